/**
 * Boots an image that is nothing but a static busybox and /bin/sh: BusyBox init, every
 * command an applet. Runs a job that times out, through the real CLI.
 */
import t from 'tap';
import { prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, bootableImage, busyboxOnlyDir, isStaticElf, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';

t.test('busybox-only image: BusyBox init, job timeout', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'busybox'], files: ['/bin/busybox', ...kernelFiles()] })) return;
  if (!isStaticElf('/bin/busybox')) {
    t.fail('/bin/busybox is not static: install busybox-static');
    return;
  }
  const work = tempDir(t);
  const { image, report } = await bootableImage(busyboxOnlyDir(work), work);
  t.equal(report.init, 'busybox');
  t.ok(report.written.includes('/sbin/init -> /bin/busybox'));

  const started = Date.now();
  const run = await runCli(['rootfs', 'run', image, '--code', 'echo before; sleep 60; echo after', '--timeout', '3', '--console'], { timeoutMs: 300_000 });
  if (run.status !== 1) t.comment(run.stderr.slice(-3000));
  t.equal(run.status, 1, 'a timed-out job exits 1');
  const result = JSON.parse(run.stdout) as Record<string, unknown>;
  t.equal(result.status, 'timeout');
  t.equal(result.stdout, 'before\n');
  t.equal(result.exitCode, 137, 'killed with SIGKILL');
  t.equal(result.exception, 'timed out after 3 s');
  t.ok((result.executionTime as number) >= 3000 && (result.executionTime as number) < 15_000, `executionTime ${String(result.executionTime)}`);
  t.match(run.stderr, /infra\.operator guest: ready/);
  t.match(run.stderr, /reboot: Power down/);
  t.ok(Date.now() - started < 240_000);
});

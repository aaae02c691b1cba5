/**
 * Boots the Alpine minirootfs fixture, made bootable with BusyBox init, under QEMU through
 * the real CLI (`rootfs run`), and checks the whole path: ready line, the job's output run
 * as the image USER (busybox su) with its ENV in its WORKDIR, the result fields, a clean
 * power-off, and an image left untouched without --persist; without --console QEMU is
 * stopped as soon as the result is complete.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, alpineDir, bootableImage, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';
import { bootJob } from '../../src/vm/qemu.js';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

t.test('alpine with busybox init runs a sh job', async (t) => {
  if (!prerequisites(t, { tools: BOOT_TOOLS, files: [ALPINE_X86, ...kernelFiles()] })) return;
  const work = tempDir(t);
  const built = await bootableImage(alpineDir(work), work, {
    config: { env: ['PATH=/usr/local/bin:/usr/bin:/bin', "GREETING=it's \"quoted\" $HOME"], entrypoint: [], cmd: ['/bin/sh'], workingDir: '/srv/app', user: 'guest' },
  });
  const { report } = built;
  t.equal(report.init, 'busybox');
  t.equal(report.runner, 'builtin');
  // A comma in the path: QEMU's option syntax must not split it.
  const image = join(work, 'root,fs.ext4');
  renameSync(built.image, image);
  const before = sha256(image);

  const code = 'echo "hello $GREETING"; pwd; hostname; cat /proc/1/comm; id -un; printf "tab\\there\\n" >&2; exit 0';
  const run = await runCli(['rootfs', 'run', image, '--code', code, '--lang', 'sh', '--timeout', '20', '--console'], { timeoutMs: 300_000 });
  if (run.status !== 0) t.comment(run.stderr.slice(-3000));
  t.equal(run.status, 0, 'exit code');
  const result = JSON.parse(run.stdout) as Record<string, unknown>;
  t.match(result.trace_id, /^tr-\d{19}$/);
  t.equal(result.status, 'success');
  t.equal(result.stdout, `hello it's "quoted" $HOME\n/srv/app\ntestvm\ninit\nguest\n`);
  t.equal(result.stderr, 'tab\there\n');
  t.equal(result.exitCode, 0);
  t.equal(result.exception, null);
  t.type(result.executionTime, 'number');
  t.ok((result.executionTime as number) >= 0 && (result.executionTime as number) < 20_000);
  t.match(run.stderr, /infra\.operator guest: ready/, 'ready line on the console');
  t.match(run.stderr, /reboot: Power down/, 'the guest powered off');
  t.notMatch(run.stderr, /did not power off/);
  t.equal(sha256(image), before, 'the image is unchanged without --persist');

  // Without --console and --persist, QEMU is stopped once the result is in: the overlay
  // holding the guest's writes is thrown away, so waiting for its shutdown saves nothing.
  const quick = await bootJob({ rootfs: image, accel: 'auto', persist: false, job: { lang: 'sh', code: 'echo quick', timeout: 20 } });
  t.same([quick.result.status, quick.result.stdout], ['success', 'quick\n'], 'the result is complete');
  t.same([quick.stoppedAfterResult, quick.poweredOff], [true, false], 'QEMU stopped after the result, not waiting for the power-off');
  t.equal(sha256(image), before, 'the image is unchanged');
});

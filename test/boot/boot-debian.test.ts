/**
 * Boots a Debian minbase tree (debootstrap, cached between runs) made bootable with the
 * minimal sh init, and runs a job through the real CLI as the image USER (setpriv), with
 * its ENV and WORKDIR, checking the result fields, the mounts, the loopback and the sysrq
 * power-off. The tree has no busybox, no init and no `ip`. (Failed jobs: guest-runner
 * and boot-busybox tests.)
 */
import t from 'tap';
import { prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, bootableImage, debianMinbaseDir, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';

t.test('debian minbase with the minimal init', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'debootstrap'], files: kernelFiles() })) return;
  const work = tempDir(t);
  const { image, report } = await bootableImage(debianMinbaseDir(), work, {
    config: { env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8'], entrypoint: ['bash'], cmd: [], workingDir: '/var/tmp', user: 'nobody' },
  });
  t.equal(report.init, 'minimal');
  t.ok(report.written.includes('/sbin/init'));

  const code = [
    'id -un',
    'pwd',
    'echo "$LANG"',
    'tr "\\0" " " < /proc/1/cmdline; echo',
    'grep -c " /tmp tmpfs" /proc/mounts',
    'cat /sys/class/net/lo/operstate',
    'printf "caf\\303\\251 \\001\\n"',
  ].join('; ');
  const ok = await runCli(['rootfs', 'run', image, '--code', code, '--timeout', '30', '--console'], { timeoutMs: 300_000 });
  if (ok.status !== 0) t.comment(ok.stderr.slice(-3000));
  t.equal(ok.status, 0, 'exit code');
  const result = JSON.parse(ok.stdout) as Record<string, unknown>;
  t.equal(result.status, 'success');
  t.equal(result.stdout, 'nobody\n/var/tmp\nC.UTF-8\n/bin/sh /sbin/init \n1\nunknown\ncafé \u0001\n');
  t.equal(result.stderr, null);
  t.equal(result.exitCode, 0);
  t.match(ok.stderr, /infra\.operator guest: ready/);
  t.match(ok.stderr, /sysrq: Power Off/, 'the minimal init powered off through sysrq');
  t.match(ok.stderr, /reboot: Power down/);
});

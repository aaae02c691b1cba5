/**
 * Boots a Debian minbase tree with Debian's OpenRC and no other init: --init
 * auto picks OpenRC, S99guest runs as an OpenRC service in the default runlevel, and the
 * runner's power-off goes through the image's own `poweroff`.
 */
import t from 'tap';
import { prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, bootableImage, debianMinbaseDir, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';

t.test('debian with openrc', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'debootstrap'], files: kernelFiles() })) return;
  const work = tempDir(t);
  const { image, report } = await bootableImage(debianMinbaseDir(['openrc']), work);
  t.equal(report.init, 'openrc');
  t.equal(report.serviceDetail, '/etc/init.d/S99guest (OpenRC, default runlevel)');

  const run = await runCli(['rootfs', 'run', image, '--code', 'echo from openrc; rc-status --runlevel', '--timeout', '30', '--console'], { timeoutMs: 300_000 });
  if (run.status !== 0) t.comment(run.stderr.slice(-3000));
  t.equal(run.status, 0, 'exit code');
  const result = JSON.parse(run.stdout) as Record<string, unknown>;
  t.equal(result.status, 'success');
  t.equal(result.stdout, 'from openrc\ndefault\n');
  t.match(run.stderr, /infra\.operator guest: ready/);
  t.match(run.stderr, /reboot: Power down/, 'powered off through the image\'s poweroff');
});

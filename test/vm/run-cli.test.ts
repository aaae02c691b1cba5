/** `rootfs run` failures that need no boot: what is missing, and the exit code that says so. */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imagePath } from '../../src/cli/rootfs/run.js';
import { CLI, prerequisites, tempDir } from '../helpers/env.js';
import { runCli } from '../helpers/cli.js';

t.test('image names resolve in the images directory', async (t) => {
  t.equal(imagePath('python', '/data/img', {}), '/data/img/rootfs-python.ext4');
  t.equal(imagePath('python', undefined, { INFRA_OPERATOR_IMAGES_DIR: '/env/img' }), '/env/img/rootfs-python.ext4');
  t.equal(imagePath('python', undefined, {}), '/srv/firecracker/images/rootfs-python.ext4');
  t.equal(imagePath('./my.ext4', '/data/img', {}), './my.ext4');
  t.equal(imagePath('other.ext4', '/data/img', {}), 'other.ext4');
});

t.test('missing image, kernel, VMM and accelerator', async (t) => {
  if (!prerequisites(t, { files: [CLI] })) return;
  const dir = tempDir(t);
  const env = { ...process.env, INFRA_OPERATOR_IMAGES_DIR: dir };
  const noImage = await runCli(['rootfs', 'run', 'ghost', '--code', 'true'], { timeoutMs: 30_000, env });
  t.equal(noImage.status, 1);
  t.equal(noImage.stdout, '');
  t.match(noImage.stderr, `No rootfs image at ${join(dir, 'rootfs-ghost.ext4')}`);

  writeFileSync(join(dir, 'rootfs-empty.ext4'), Buffer.alloc(4096));
  const noKernel = await runCli(['rootfs', 'run', 'empty', '--code', 'true', '--kernel', join(dir, 'vmlinuz')], { timeoutMs: 30_000, env });
  t.equal(noKernel.status, 3, 'VM unavailable');
  t.match(noKernel.stderr, /Cannot read .*vmlinuz.*--kernel/);

  writeFileSync(join(dir, 'vmlinuz'), 'not a kernel');
  const noQemu = await runCli(['rootfs', 'run', 'empty', '--code', 'true', '--kernel', join(dir, 'vmlinuz'), '--accel', 'tcg'], { timeoutMs: 30_000, env: { ...env, PATH: dir } });
  t.equal(noQemu.status, 3);
  t.match(noQemu.stderr, /qemu-system-x86_64 is not installed.*apt-get install qemu-system-x86/);

  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  if (!/\b(vmx|svm)\b/.test(cpuinfo)) {
    const noKvm = await runCli(['rootfs', 'run', 'empty', '--code', 'true', '--kernel', join(dir, 'vmlinuz'), '--accel', 'kvm'], { timeoutMs: 30_000, env });
    t.equal(noKvm.status, 3, 'no vmx/svm: --accel kvm cannot run');
    t.match(noKvm.stderr, /--accel tcg/);
  }

  const badTimeout = await runCli(['rootfs', 'run', 'empty', '--code', 'true', '--timeout', '0'], { timeoutMs: 30_000, env });
  t.equal(badTimeout.status, 2);
});

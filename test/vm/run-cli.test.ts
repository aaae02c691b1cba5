/** `rootfs run` failures that need no boot: what is missing or malformed, and the exit code that says so. */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveRootfsPath } from '../../src/store/paths.js';

const rootfsPath = (image: string, imagesDir: string | undefined, env: NodeJS.ProcessEnv) => resolveRootfsPath(image, { imagesDir, env, orPath: true });
import { bootJob, resultDeadline } from '../../src/vm/qemu.js';
import { CLI, prerequisites, tempDir } from '../helpers/env.js';
import { runCli } from '../helpers/cli.js';
import { shellImage } from './images.js';

t.test('image names resolve in the images directory', async (t) => {
  t.equal(rootfsPath('python', '/data/img', {}), '/data/img/rootfs-python.ext4');
  t.equal(rootfsPath('python', undefined, { INFRA_OPERATOR_IMAGES_DIR: '/env/img' }), '/env/img/rootfs-python.ext4');
  t.equal(rootfsPath('python', undefined, {}), '/srv/firecracker/images/rootfs-python.ext4');
  t.equal(rootfsPath('./my.ext4', '/data/img', {}), './my.ext4');
  t.equal(rootfsPath('other.ext4', '/data/img', {}), 'other.ext4');
});

t.test('missing image, kernel, VMM and accelerator', async (t) => {
  if (!prerequisites(t, { tools: ['mke2fs'], files: [CLI] })) return;
  const dir = tempDir(t);
  const env = { ...process.env, INFRA_OPERATOR_IMAGES_DIR: dir };
  const noImage = await runCli(['rootfs', 'run', 'ghost', '--code', 'true'], { timeoutMs: 30_000, env });
  t.equal(noImage.status, 1);
  t.equal(noImage.stdout, '');
  t.match(noImage.stderr, `No rootfs image at ${join(dir, 'rootfs-ghost.ext4')}`);

  shellImage(dir, 'rootfs-empty.ext4'); // passes the image checks: the kernel is what is missing
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

t.test('timeouts past the maximum and bad output limits or users are refused before booting', async (t) => {
  if (!prerequisites(t, { files: [CLI] })) return;
  const dir = tempDir(t);
  // No image at all: a refusal that came after looking for one would say so and exit 1.
  const env = { ...process.env, INFRA_OPERATOR_IMAGES_DIR: dir };
  const cases: Array<[string[], RegExp]> = [
    [['--timeout', '3000000'], /timeout must be a whole number of seconds from 1 to 86400, not 3000000: set --timeout within/],
    [['--max-output', '-1'], /output limit must be a whole number of bytes from 0 to 16777216, not -1: set --max-output within/],
    [['--max-output', '20000000'], /--max-output/],
    [['--user', 'a b'], /user must be a name or uid.*: e\.g\. --user nobody/],
    [['--timeout', 'abc'], /^Error: --timeout takes a whole number, not 'abc'\.$/m],
    [['--mem', '1.5'], /^Error: --mem takes a whole number, not '1\.5'\.$/m],
    [['--vcpus', '2\x1b[31m'], /^Error: --vcpus takes a whole number, not '2\\x1b\[31m'\.$/m],
  ];
  for (const [flags, message] of cases) {
    const run = await runCli(['rootfs', 'run', 'ghost', '--code', 'true', ...flags], { timeoutMs: 30_000, env });
    t.equal(run.status, 2, `${flags.join(' ')}: exit 2`);
    t.equal(run.stdout, '');
    t.match(run.stderr, message);
  }
  await t.rejects(bootJob({ rootfs: join(dir, 'ghost.ext4'), accel: 'tcg', persist: false, job: { lang: 'sh', code: 'true', timeout: 3_000_000 } }), { code: 'USAGE' });
  await t.rejects(
    bootJob({ rootfs: join(dir, 'ghost.ext4'), accel: 'tcg', persist: false, bootTimeout: 3_000_000, job: { lang: 'sh', code: 'true', timeout: 5 } }),
    { code: 'USAGE', message: /bootTimeout/ },
  );
});

t.test('the result deadline allows for encoding max_output under TCG', async (t) => {
  t.equal(resultDeadline({ timeout: 20, maxOutput: 1_048_576 }, 'tcg'), 20 + 60 + 240);
  t.equal(resultDeadline({ timeout: 20 }, 'kvm'), 20 + 60 + 30, 'the default max_output');
  t.equal(resultDeadline({ timeout: 20, maxOutput: 0 }, 'tcg'), 80);
});

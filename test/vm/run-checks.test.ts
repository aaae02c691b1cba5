/**
 * `rootfs run` refuses, before QEMU starts, what cannot boot or run: a file that is not
 * ext4, an ext4 without /bin/sh, an arm64 image (by its /bin/sh's ELF header, or by its
 * sidecar), a language the runner does not have, a machine out of bounds. A stand-in
 * qemu-system-x86_64 on PATH records any start; a real one is never needed. And SIGTERM
 * while the VM runs stops it: exit 143, the stand-in killed, no temporary file left.
 */
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSidecar } from '../../src/store/sidecar.js';
import { elfArchitecture } from '../../src/vm/platform.js';
import { ALPINE_ARM, CLI, prerequisites, tempDir, which } from '../helpers/env.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { shellImage } from './images.js';

/** Node's start and the checks take a second or two idle, several on a loaded machine; a boot takes 30 s and more. */
const REFUSED_WITHIN_MS = 10_000;

/** A directory with a qemu-system-x86_64 that touches `started` and then runs until killed. */
function standInQemu(dir: string): { bin: string; started: string } {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const started = join(dir, 'qemu-started');
  writeFileSync(join(bin, 'qemu-system-x86_64'), `#!/bin/sh\ntouch '${started}'\nwhile :; do sleep 1; done\n`, { mode: 0o755 });
  return { bin, started };
}

t.test('what cannot boot is refused before QEMU starts', async (t) => {
  if (!prerequisites(t, { tools: ['mke2fs'], files: [CLI, ALPINE_ARM] })) return;
  const dir = tempDir(t);
  const qemu = standInQemu(dir);
  const kernel = join(dir, 'vmlinuz');
  writeFileSync(kernel, 'a readable file: the stand-in never reads it');
  const env = { ...process.env, PATH: `${qemu.bin}:${process.env.PATH}` };
  const run = (image: string, ...flags: string[]) =>
    runCli(['rootfs', 'run', image, '--code', 'true', '--kernel', kernel, '--accel', 'tcg', ...flags], { timeoutMs: 60_000, env });
  const refused = async (what: string, result: Promise<CliResult>, code: number, message: RegExp) => {
    const started = Date.now();
    const r = await result;
    const ms = Date.now() - started;
    t.equal(r.status, code, `${what}: exit ${code}`);
    t.match(r.stderr, message, `${what}: says why`);
    t.equal(r.stdout, '', `${what}: no result`);
    t.ok(ms < REFUSED_WITHIN_MS, `${what}: refused in ${ms} ms`);
    t.notOk(existsSync(qemu.started), `${what}: QEMU never started`);
  };

  const random = join(dir, 'random.ext4');
  writeFileSync(random, Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24)));
  await refused('a random file', run(random), 1, /random\.ext4 is not an ext2\/3\/4 filesystem image \(no ext superblock magic at offset 1080\).*from-docker/);

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const noShell = join(dir, 'no-shell.ext4');
  execFileSync(which('mke2fs')!, ['-q', '-F', '-t', 'ext4', '-d', empty, noShell, '8M'], { stdio: 'ignore' });
  await refused('an ext4 without /bin/sh', run(noShell), 1, /no-shell\.ext4 has no \/bin\/sh/);

  const arm = join(dir, 'rootfs-arm.ext4');
  const built = await runCli(['rootfs', 'from-docker', '-n', 'arm', '-i', `tar:${ALPINE_ARM}`, '--platform', 'linux/arm64', '--init', 'none', '-s', '32', '-o', arm, '-q'], { timeoutMs: 120_000 });
  t.equal(built.status, 0, `the arm64 image builds (${built.stderr})`);
  await refused('an arm64 image', run(arm), 1, /rootfs-arm\.ext4 is a linux\/arm64 image \(its \/bin\/sh is arm64\); this VM runs linux\/amd64/);

  const good = shellImage(dir, 'rootfs-good.ext4');
  await refused('an unknown language', run(good, '--lang', 'cobol'), 2, /no language "cobol": pass one of sh, .* as --lang/);
  for (const [flags, message] of [
    [['--mem', '64'], /memory must be a whole number of MiB from 128 to \d+.*: set --mem within/],
    [['--mem', '1e9'], /set --mem within/],
    [['--vcpus', '0'], /vCPU count must be a whole number from 1 to 32, not 0: set --vcpus within/],
    [['--vcpus', '2.5'], /--vcpus takes a whole number, not '2\.5'/],
  ] as const) {
    await refused(flags.join(' '), run(good, ...flags), 2, message);
  }

  // The sidecar's platform stands for /bin/sh: an x86_64 /bin/sh under an arm64 sidecar is refused.
  const labelled = join(dir, 'rootfs-labelled.ext4');
  copyFileSync(good, labelled);
  await writeSidecar(labelled, { name: 'labelled', image: 'test', digest: `sha256:${'0'.repeat(64)}`, usedBytes: 0, inodes: { count: 0, used: 0 }, platform: { os: 'linux', architecture: 'arm64' } });
  await refused('an image whose sidecar says arm64', run(labelled), 1, /linux\/arm64 image \(from its sidecar\)/);

  // The control: the stand-in does notice a start.
  await run(good, '--timeout', '1');
  t.ok(existsSync(qemu.started), 'an image that passes the checks reaches QEMU');
});

t.test("the ELF header's machine is the architecture", async (t) => {
  const sh = realpathSync('/bin/sh');
  const header = spawnSync('head', ['-c', '64', sh]).stdout;
  const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386' };
  t.equal(elfArchitecture(header), expected[process.arch], `host ${sh} (node says ${process.arch})`);
  t.equal(elfArchitecture(Buffer.from('#!/bin/sh\necho not elf\n')), undefined);
  const arm = Buffer.alloc(64);
  arm.write('\x7fELF', 0, 'latin1');
  arm[4] = 2;
  arm[5] = 1;
  arm.writeUInt16LE(183, 18);
  t.equal(elfArchitecture(arm), 'arm64');
  arm.writeUInt16LE(0x1234, 18);
  t.equal(elfArchitecture(arm), 'e_machine 4660');
});

t.test('SIGTERM while QEMU runs: QEMU killed, temporary files removed, exit 143', async (t) => {
  if (!prerequisites(t, { tools: ['mke2fs', 'pgrep'], files: [CLI] })) return;
  const dir = tempDir(t);
  const qemu = standInQemu(dir);
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const image = shellImage(dir, 'rootfs-good.ext4');
  const kernel = join(dir, 'vmlinuz');
  writeFileSync(kernel, 'never read');
  const child = spawn(process.execPath, [CLI, 'rootfs', 'run', image, '--code', 'true', '--kernel', kernel, '--accel', 'tcg'], {
    env: { ...process.env, PATH: `${qemu.bin}:${process.env.PATH}`, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (let waited = 0; !existsSync(qemu.started) && waited < 200; waited++) await new Promise((r) => setTimeout(r, 50));
  t.ok(existsSync(qemu.started), 'QEMU (the stand-in) started');
  const stand = ['-f', `${qemu.bin}/qemu-system-x86_64`];
  t.equal(spawnSync('pgrep', stand).status, 0, 'and runs');
  t.not(readdirSync(tmp).length, 0, 'the run has its temporary directory');
  child.kill('SIGTERM');
  t.equal(await exited, 143, 'exit 128 + 15');
  t.match(stderr, /Interrupted by SIGTERM: the VM was stopped and its temporary files removed/);
  t.equal(spawnSync('pgrep', stand).status, 1, 'QEMU is gone');
  t.same(readdirSync(tmp), [], 'no temporary files left');
});

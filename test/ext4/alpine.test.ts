/**
 * The real Alpine minirootfs through the CLI (`--image tar:`), compared entry by entry
 * with what GNU tar extracts from the same tarball, and the CLI's behaviour around it.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ALPINE_X86, mountReadOnly, prerequisites, tempDir } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { assertClean, stat } from '../helpers/image.js';
import { assertSameTree, describeTree } from '../helpers/compare.js';
import { compositeSha256Of } from '../helpers/composite.js';

const NEEDS = { tools: ['e2fsck', 'debugfs', 'tar'], files: [ALPINE_X86] };

function convert(input: string, output: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return cli(['rootfs', 'from-docker', '-n', 'alpine', '-i', `tar:${input}`, '-s', '64', '-o', output, '--init', 'none', '--guest-runner', 'none', ...extra], { env: { ...process.env, ...env } });
}

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

t.test('Alpine minirootfs: the image holds exactly the tarball tree', async (t) => {
  if (!prerequisites(t, NEEDS)) return;
  const dir = tempDir(t);
  const img = join(dir, 'alpine.ext4');
  const r = convert(ALPINE_X86, img);
  t.equal(r.status, 0, 'from-docker exits 0', { stderr: r.stderr });
  t.match(r.stdout, /\[1\/6\] Pulling Docker image: tar:.*\n\[2\/6\] Creating ext4 image \(64MB\)\.\.\.\n\[3\/6\] Exporting Docker filesystem\.\.\.\n/);
  t.match(r.stdout, new RegExp(`Created: ${img}\n$`));
  assertClean(t, img, dir);
  const fromTar = join(dir, 'tar');
  mkdirSync(fromTar);
  execFileSync('tar', ['--numeric-owner', '-xpzf', ALPINE_X86, '-C', fromTar]);
  const mnt = mountReadOnly(t, img); // the kernel reads the image
  if (!mnt) return;
  const expected = describeTree(fromTar);
  const actual = describeTree(mnt, ['lost+found']);
  const n = assertSameTree(t, expected, actual, 'alpine');
  t.ok(n > 500, `${n} entries compared`);
  const busybox = stat(img, '/bin/busybox');
  t.equal(busybox.mode, 0o755);
  t.ok(busybox.links === 1);
  t.equal(stat(img, '/bin/sh').type, 'symlink');
  t.ok(existsSync(join(dir, 'alpine.ext4.json')), 'the sidecar is written beside the image');
  const sidecar = JSON.parse(readFileSync(join(dir, 'alpine.ext4.json'), 'utf8'));
  t.equal(sidecar.chunkedSha256, compositeSha256Of(img).hex, 'sidecar chunked sha256 is the image file\'s');
  t.equal(sidecar.size, 64 * 1024 * 1024);
});

t.test('reproducible: two builds are byte-identical; SOURCE_DATE_EPOCH changes only invented times', async (t) => {
  if (!prerequisites(t, NEEDS)) return;
  const dir = tempDir(t);
  const a = join(dir, 'a.ext4');
  const b = join(dir, 'b.ext4');
  const c = join(dir, 'c.ext4');
  t.equal(convert(ALPINE_X86, a).status, 0);
  t.equal(convert(ALPINE_X86, b).status, 0);
  t.equal(sha(a), sha(b), 'same input, same options: same bytes');
  t.equal(convert(ALPINE_X86, c, [], { SOURCE_DATE_EPOCH: '1700000000' }).status, 0);
  t.not(sha(c), sha(a));
  t.same(stat(c, '/lost+found').times.mtime, [1700000000, 0], 'lost+found gets SOURCE_DATE_EPOCH');
  t.same(stat(c, '/etc/passwd').times.mtime, stat(a, '/etc/passwd').times.mtime, 'times from the tarball are kept');
  // An existing output is replaced atomically: a second build over it succeeds and leaves no temp files.
  t.equal(convert(ALPINE_X86, a).status, 0);
  t.same(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

t.test('too small: exit 1 naming the minimum, nothing at the output; that size then works', async (t) => {
  if (!prerequisites(t, NEEDS)) return;
  const dir = tempDir(t);
  const img = join(dir, 'small.ext4');
  const r = cli(['rootfs', 'from-docker', '-n', 'x', '-i', `tar:${ALPINE_X86}`, '-s', '4', '-o', img, '--init', 'none', '--guest-runner', 'none']);
  t.equal(r.status, 1);
  const m = /needs at least (\d+) MB: rerun with --size (\d+)/.exec(r.stderr);
  t.ok(m, 'the message names the minimum', { stderr: r.stderr });
  t.same(readdirSync(dir), [], 'nothing left behind');
  const ok = cli(['rootfs', 'from-docker', '-n', 'x', '-i', `tar:${ALPINE_X86}`, '-s', m![1]!, '-o', img, '--init', 'none', '--guest-runner', 'none']);
  t.equal(ok.status, 0, `--size ${m![1]} succeeds`, { stderr: ok.stderr });
  assertClean(t, img, dir);
});

t.test('bad input: truncated, corrupt header, entry past the end → clear error, nothing written', async (t) => {
  if (!prerequisites(t, NEEDS)) return;
  const dir = tempDir(t);
  const tar = gunzipSync(readFileSync(ALPINE_X86));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['truncated.tar.gz', readFileSync(ALPINE_X86).subarray(0, 1_500_000), /truncated|corrupt|ends/i],
    ['truncated.tar', tar.subarray(0, Math.floor(tar.length / 2) + 100), /truncated|ends|claims/i],
    ['badsum.tar', Buffer.concat([tar.subarray(0, 512 * 3), Buffer.from('X'), tar.subarray(512 * 3 + 1)]), /checksum/i],
    ['garbage.tar.gz', Buffer.concat([readFileSync(ALPINE_X86).subarray(0, 100_000), Buffer.alloc(5000, 0x41)]), /corrupt|truncated|invalid/i],
  ];
  for (const [name, bytes, message] of cases) {
    const input = join(dir, name);
    writeFileSync(input, bytes);
    const out = join(dir, `${name}.ext4`);
    const r = convert(input, out);
    t.equal(r.status, 1, `${name}: exit 1`);
    t.match(r.stderr, message, `${name}: says what is wrong`);
    t.notOk(existsSync(out), `${name}: no image at the output`);
  }
  t.same(readdirSync(dir).filter((f) => f.endsWith('.ext4') || f.endsWith('.tmp')), [], 'no image or temporary file anywhere');
});

t.test('the gzip and the plain tarball give the same tree', async (t) => {
  if (!prerequisites(t, NEEDS)) return;
  const dir = tempDir(t);
  const plain = join(dir, 'alpine.tar');
  writeFileSync(plain, gunzipSync(readFileSync(ALPINE_X86)));
  const regz = join(dir, 'alpine.tgz');
  writeFileSync(regz, gzipSync(readFileSync(plain), { level: 1 }));
  t.equal(convert(plain, join(dir, 'p.ext4')).status, 0);
  t.equal(convert(regz, join(dir, 'g.ext4')).status, 0);
  copyFileSync(join(dir, 'p.ext4'), join(dir, 'p2.ext4'));
  assertClean(t, join(dir, 'p.ext4'), dir);
  t.same(statSync(join(dir, 'p.ext4')).size, statSync(join(dir, 'g.ext4')).size);
  const a = describeTree(mkDump(dir, 'p'), ['lost+found']);
  const b = describeTree(mkDump(dir, 'g'), ['lost+found']);
  assertSameTree(t, a, b, 'plain vs gzip');
});

function mkDump(dir: string, name: string): string {
  const out = join(dir, `${name}-dump`);
  mkdirSync(out);
  execFileSync('debugfs', ['-R', `rdump / ${out}`, join(dir, `${name}.ext4`)], { stdio: 'ignore' });
  return out;
}

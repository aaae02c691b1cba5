/**
 * Seeded generative test: random trees made on disk (files with holes and zero runs,
 * directories, symlinks of every length class, hard links, devices, FIFOs, odd modes,
 * owners, nanosecond times, binary xattrs), archived by GNU tar, converted, and compared
 * entry by entry. INFRA_OPERATOR_GEN_SEED and INFRA_OPERATOR_GEN_ITERATIONS reproduce or
 * extend a run.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { linkSync, lchownSync, lstatSync, mkdirSync, symlinkSync, utimesSync, writeFileSync, chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { mountReadOnly, prerequisites, tempDir } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { assertClean } from '../helpers/image.js';
import { assertSameTree, describeTree } from '../helpers/compare.js';

const SEED = Number(process.env.INFRA_OPERATOR_GEN_SEED ?? 20261126);
const ITERATIONS = Number(process.env.INFRA_OPERATOR_GEN_ITERATIONS ?? 6);

/** mulberry32: a small, seedable PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]) => xs[int(xs.length)]! };
}

interface Made {
  xattrs: Array<[path: string, name: string, value: Buffer]>;
  times: Array<[path: string, sec: number, nsec: number]>;
}

function makeTree(root: string, seed: number): Made {
  const r = prng(seed);
  const made: Made = { xattrs: [], times: [] };
  const dirs = [''];
  const files: string[] = [];
  const name = () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789._-';
    const len = r.pick([1, 3, 8, 20, 100, 251]);
    let s = r.pick(['f', 'g', 'h', 'é']);
    while (Buffer.byteLength(s) < len) s += alphabet[r.int(alphabet.length)];
    return Buffer.from(s).subarray(0, len).toString('utf8').replace(/\uFFFD/g, '');
  };
  const entries = 30 + r.int(120);
  for (let i = 0; i < entries; i++) {
    const parent = r.pick(dirs);
    const rel = parent === '' ? `${name()}${i}` : `${parent}/${name()}${i}`;
    const abs = join(root, rel);
    const kind = r.pick(['file', 'file', 'file', 'dir', 'dir', 'symlink', 'hardlink', 'fifo', 'dev', 'zeros', 'holes']);
    if (Buffer.byteLength(abs) > 3000) continue;
    switch (kind) {
      case 'file': {
        const size = r.pick([0, 1, 4095, 4096, 4097, 10000, 65536 + 7, 300000]);
        const data = Buffer.alloc(size);
        for (let j = 0; j < size; j += 997) data[j] = r.int(256);
        writeFileSync(abs, data);
        files.push(rel);
        break;
      }
      case 'zeros':
        writeFileSync(abs, Buffer.alloc(r.pick([1, 8192, 100000])));
        files.push(rel);
        break;
      case 'holes': {
        const data = Buffer.alloc(16 * 4096);
        data.fill(1 + r.int(200), 4096 * r.int(16), 4096 * r.int(16) + 10);
        writeFileSync(abs, data);
        files.push(rel);
        break;
      }
      case 'dir':
        mkdirSync(abs);
        dirs.push(rel);
        break;
      case 'symlink':
        symlinkSync('t/'.repeat(r.pick([0, 29, 30, 31, 500])) + 'end', abs);
        lchownSync(abs, r.int(70000), r.int(70000));
        break;
      case 'hardlink':
        if (files.length > 0) linkSync(join(root, r.pick(files)), abs);
        continue;
      case 'fifo':
        execFileSync('mkfifo', [abs]);
        break;
      case 'dev':
        execFileSync('mknod', [abs, r.pick(['c', 'b']), String(r.pick([1, 8, 300, 4095])), String(r.pick([0, 3, 255, 256, 70000]))]);
        break;
    }
    if (kind !== 'symlink') {
      chownSync(abs, r.pick([0, 1000, 65535, 65536, 100000]), r.pick([0, 50, 65536, 2 ** 31]));
      chmodSync(abs, kind === 'dir' ? 0o700 | r.int(0o10000) : r.int(0o10000));
      if (kind === 'file' && r.next() < 0.3) {
        const value = Buffer.from(Array.from({ length: 1 + r.int(120) }, () => r.int(256)));
        const xname = `user.x${r.int(1000)}`;
        execFileSync('setfattr', ['-n', xname, '-v', `0x${value.toString('hex')}`, abs]);
        made.xattrs.push([rel, xname, value]);
      }
    }
  }
  // Times last (children change their parents' mtimes), deepest first.
  for (const d of [...dirs.slice(1)].reverse()) {
    const sec = r.pick([-1000, 0, 1e9, 2 ** 31 - 1, 2 ** 31, 4102444800]) + r.int(1000);
    utimesSync(join(root, d), sec, sec);
  }
  for (const f of files) {
    const sec = 1e9 + r.int(1e9);
    const nsec = r.int(1e9);
    spawnSync('touch', ['-m', '-h', '-d', `@${sec}.${String(nsec).padStart(9, '0')}`, join(root, f)]);
    made.times.push([f, sec, nsec]);
  }
  chmodSync(root, 0o755);
  return made;
}

t.test(`random trees (seed ${SEED}, ${ITERATIONS} iterations) survive tar → ext4 intact`, async (t) => {
  if (!prerequisites(t, { tools: ['e2fsck', 'debugfs', 'tar', 'setfattr', 'mknod', 'mkfifo', 'getfattr', 'mount'], root: true })) return;
  const scratch = tempDir(t);
  for (let i = 0; i < ITERATIONS; i++) {
    const seed = SEED + i;
    const dir = join(scratch, `gen-${seed}`);
    const tree = join(dir, 'tree');
    mkdirSync(tree, { recursive: true });
    const made = makeTree(tree, seed);
    const tar = join(dir, 'tree.tar');
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', tar, '-C', tree, '.']);
    const img = join(dir, 'tree.ext4');
    const r = cli(['rootfs', 'from-docker', '-q', '-n', 'gen', '-i', `tar:${tar}`, '-s', 'auto', '-o', img, '--init', 'none', '--guest-runner', 'none']);
    t.equal(r.status, 0, `seed ${seed}: converted`, { stderr: r.stderr });
    if (r.status !== 0) continue;
    assertClean(t, img, dir);
    // The kernel reads the image: every entry, its type, full mode, owner, size, mtime,
    // content, link target, device number and hard-link identity must match the tree.
    const mnt = mountReadOnly(t, img);
    if (!mnt) return;
    assertSameTree(t, describeTree(tree), describeTree(mnt, ['lost+found']), `seed ${seed}`);
    for (const [path, name, value] of made.xattrs) {
      const got = execFileSync('getfattr', ['--only-values', '-h', '-n', name, Buffer.from(`${mnt}/${path}`).toString()], { stdio: ['ignore', 'pipe', 'ignore'] });
      t.same(got, value, `seed ${seed}: kernel reads ${name} on ${path.slice(0, 30)} byte-exact`);
    }
    for (const [path, sec, nsec] of made.times) {
      const ns = lstatSync(`${mnt}/${path}`, { bigint: true }).mtimeNs;
      t.equal(ns, BigInt(sec) * 1_000_000_000n + BigInt(nsec), `seed ${seed}: kernel reads mtime of ${path.slice(0, 30)} to the nanosecond`);
    }
  }
});

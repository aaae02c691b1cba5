// Scale: a generated tree of 160k entries and about 2 GB (400 directories of 400 small
// files, and 20 files of 100 MB) through `from-docker --image tar:` against `mke2fs -d` of
// the same tree: wall time, time per byte and peak RSS (memory must grow with entries,
// not bytes). Built once under bench/.work/scale.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, WORK, alternate, fmt, measure, runsOf } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DIRS = 400;
const FILES_PER_DIR = 400;
const BIG_FILES = 20;
const BIG_MIB = 100;
const SIZE_MIB = 4096;

function prepare() {
  const dir = join(WORK, 'scale');
  const tree = join(dir, 'tree');
  const tar = join(dir, 'tree.tar');
  if (existsSync(tar)) return { dir, tree, tar };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  console.error(`generating ${DIRS * (FILES_PER_DIR + 1) + BIG_FILES} entries in ${tree} (once)…`);
  for (let d = 0; d < DIRS; d++) {
    const sub = join(tree, `d${d}`);
    mkdirSync(sub);
    for (let f = 0; f < FILES_PER_DIR; f++) writeFileSync(join(sub, `f${f}.txt`), `file ${d}/${f}\n`.repeat(1 + ((d * 31 + f) % 64)));
  }
  const big = join(tree, 'big');
  mkdirSync(big);
  execFileSync('sh', ['-c', `head -c ${BIG_MIB * 1048576} /dev/urandom > '${join(big, 'b0')}' && for i in $(seq 1 ${BIG_FILES - 1}); do cp '${join(big, 'b0')}' "${big}/b$i"; done`]);
  execFileSync('tar', ['--numeric-owner', '-cf', tar, '-C', tree, '.']);
  return { dir, tree, tar };
}

export function benchScale() {
  console.log(`# scale: 160k entries, ~2 GB, image ${SIZE_MIB} MiB: from-docker tar: vs mke2fs -d (median of ${RUNS} alternating runs)`);
  const { dir, tree, tar } = prepare();
  const ours = join(dir, 'ours.ext4');
  const theirs = join(dir, 'mke2fs.ext4');
  const cleanup = () => [ours, `${ours}.json`, theirs].forEach((p) => rmSync(p, { force: true }));
  const r = alternate(RUNS, {
    mke2fs: () => measure(['sh', '-c', `mke2fs -q -F -t ext4 -d '${tree}' '${theirs}' ${SIZE_MIB}M && sync '${theirs}'`]),
    ours: () => measure([process.execPath, CLI, 'rootfs', 'from-docker', '-q', '-n', 'scale', '-i', `tar:${tar}`, '-s', String(SIZE_MIB), '-o', ours, '--init', 'none', '--guest-runner', 'none']),
  }, cleanup);
  cleanup();
  const mib = statSync(tar).size / 1048576;
  const line = (label, m) => `  ${label.padEnd(26)} ${fmt(m.seconds)} s  ${fmt(mib / m.seconds, 0).padStart(4)} MiB/s  ${fmt(m.rssMiB, 0).padStart(4)} MiB RSS  ${fmt(m.seconds / r.mke2fs.seconds)}× mke2fs  (runs ${runsOf(m)})`;
  console.log(`tar ${fmt(mib, 0)} MiB`);
  console.log(line('mke2fs -d, sync', r.mke2fs));
  console.log(line('from-docker tar:', r.ours));
}

// The ext4 writer against `mke2fs -t ext4 -d` on the same trees, same run: wall time and
// peak RSS. Input for infra.operator is the tree as a tarball (`--image tar:`); mke2fs
// reads the same tree extracted on disk (as root).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE, BENCH, CLI, WORK, debootstrapTree, fmt, measure, repeat } from './lib.js';

const WRITE_TAR = join(BENCH, 'write-tar.js');

const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function prepare(name, makeTar) {
  const dir = join(WORK, `writer-${name}`);
  mkdirSync(dir, { recursive: true });
  const tar = join(dir, 'tree.tar');
  const tree = join(dir, 'tree');
  if (!existsSync(tar)) makeTar(tar);
  if (!existsSync(tree)) {
    mkdirSync(tree);
    execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-xpf', tar, '-C', tree]);
  }
  return { dir, tar, tree };
}

function compare(name, { dir, tar, tree }, sizeMiB) {
  const ours = join(dir, 'ours.ext4');
  const theirs = join(dir, 'mke2fs.ext4');
  const cleanup = () => rmSync(ours, { force: true }) || rmSync(theirs, { force: true });
  const cat = () => execFileSync('cat', [tar], { stdio: ['ignore', 'ignore', 'ignore'] }); // warm the page cache
  cat();
  // The writer alone (tar reader → tree → ext4), as mke2fs -d does it.
  const writer = repeat(RUNS, () => measure([process.execPath, WRITE_TAR, tar, ours, String(sizeMiB)]), cleanup);
  // The whole command: also hashes the input (the image digest) and the image (sidecar).
  const command = repeat(RUNS, () =>
    measure([process.execPath, CLI, 'rootfs', 'from-docker', '-q', '-n', name, '-i', `tar:${tar}`, '-s', String(sizeMiB), '-o', ours, '--init', 'none', '--guest-runner', 'none']),
  cleanup);
  const them = repeat(RUNS, () => measure(['mke2fs', '-q', '-F', '-t', 'ext4', '-d', tree, theirs, `${sizeMiB}M`]), cleanup);
  const bytes = statSync(tar).size;
  return { name, sizeMiB, tarMiB: bytes / 1048576, writer, command, them };
}

function report(r) {
  const line = (label, m) => `  ${label.padEnd(28)} ${fmt(m.seconds)} s  ${fmt(m.rssMiB, 0).padStart(4)} MiB RSS  ${fmt(m.seconds / r.them.seconds)}× mke2fs`;
  console.log(`${r.name}: tar ${fmt(r.tarMiB, 0)} MiB, image ${r.sizeMiB} MiB`);
  console.log(line('mke2fs -t ext4 -d', r.them));
  console.log(line('infra.operator writer', r.writer));
  console.log(line('from-docker (+sha256, sidecar)', r.command));
}

export function benchWriter() {
  console.log(`# ext4 writer vs mke2fs -t ext4 -d (median of ${RUNS}, page cache warm)`);
  const alpine = prepare('alpine', (tar) => execFileSync('sh', ['-c', `gzip -dc '${ALPINE}' > '${tar}'`]));
  report(compare('alpine', alpine, 64));
  const deb = prepare('debootstrap', (tar) => execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-cf', tar, '-C', debootstrapTree(), '.']));
  report(compare('debootstrap', deb, 512));
}

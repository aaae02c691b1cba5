// The ext4 writer against `mke2fs -t ext4 -d` on the same trees, same run: wall time and
// peak RSS. Input for infra.operator is the tree as a tarball (`--image tar:`); mke2fs
// reads the same tree extracted on disk (as root).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE, BASE_CLI, BENCH, CLI, WORK, alternate, debootstrapTree, fmt, measure, runsOf } from './lib.js';

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
  const base = join(dir, 'base.ext4');
  const theirs = join(dir, 'mke2fs.ext4');
  const cleanup = () => [ours, `${ours}.json`, base, `${base}.json`, theirs].forEach((p) => rmSync(p, { force: true }));
  execFileSync('cat', [tar], { stdio: ['ignore', 'ignore', 'ignore'] }); // warm the page cache
  const fromDocker = (cli, out) => () =>
    measure([process.execPath, cli, 'rootfs', 'from-docker', '-q', '-n', name, '-i', `tar:${tar}`, '-s', String(sizeMiB), '-o', out, '--init', 'none', '--guest-runner', 'none']);
  const cases = {
    // mke2fs does not fsync; the command does: sync the file as well.
    mke2fs: () => measure(['sh', '-c', `mke2fs -q -F -t ext4 -d '${tree}' '${theirs}' ${sizeMiB}M && sync '${theirs}'`]),
    // The writer alone (tar reader → tree → ext4), as mke2fs -d does it.
    writer: () => measure([process.execPath, WRITE_TAR, tar, ours, String(sizeMiB)]),
    // The whole command: also hashes the input (the image digest) and the image (sidecar), and fsyncs.
    command: fromDocker(CLI, ours),
    ...(BASE_CLI ? { base: fromDocker(BASE_CLI, base) } : {}),
  };
  const r = alternate(RUNS, cases, cleanup);
  cleanup();
  return { name, sizeMiB, tarMiB: statSync(tar).size / 1048576, ...r };
}

function report(r) {
  const line = (label, m) => `  ${label.padEnd(30)} ${fmt(m.seconds)} s  ${fmt(m.rssMiB, 0).padStart(4)} MiB RSS  ${fmt(m.seconds / r.mke2fs.seconds)}× mke2fs  (runs ${runsOf(m)})`;
  console.log(`${r.name}: tar ${fmt(r.tarMiB, 0)} MiB, image ${r.sizeMiB} MiB`);
  console.log(line('mke2fs -t ext4 -d, sync', r.mke2fs));
  console.log(line('infra.operator writer', r.writer));
  console.log(line('from-docker tar: (whole command)', r.command));
  if (r.base) console.log(line('from-docker tar:, BENCH_BASE_CLI', r.base));
}

export function benchWriter() {
  console.log(`# ext4 writer vs mke2fs -t ext4 -d (median of ${RUNS} alternating runs, page cache warm)`);
  const alpine = prepare('alpine', (tar) => execFileSync('sh', ['-c', `gzip -dc '${ALPINE}' > '${tar}'`]));
  report(compare('alpine', alpine, 64));
  report(compare('debootstrap', debootstrapTar(), 1024));
}

/** The debootstrap tree as a tarball and extracted (for mke2fs), built once. */
export function debootstrapTar() {
  return prepare('debootstrap', (tar) => execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-cf', tar, '-C', debootstrapTree(), '.']));
}

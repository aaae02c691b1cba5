// `rootfs create --lang python` on the Debian base (the debootstrap tree served from the
// loopback registry), rootless, against what needs root today: debootstrap installing the
// same package set from the machine's mirror (`--include=python3,ca-certificates`, every
// maintainer script run) and `mke2fs -d`. Same run, empty caches; the two package sets
// are compared, not assumed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, debianMirror, fmt, measure, repeat, serveDebootstrapImage } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE_MIB = 1024;

/** `name=version` of every package a dpkg status file has on disk, sorted. */
function packageSet(status) {
  return status
    .split(/\n\n+/)
    .filter((stanza) => /^Status: install ok (installed|unpacked)$/m.test(stanza))
    .map((stanza) => `${/^Package: (.*)$/m.exec(stanza)[1]}=${/^Version: (.*)$/m.exec(stanza)[1]}`)
    .sort();
}

export async function benchCreate() {
  console.log(`# create --lang python on the loopback debian image vs debootstrap --include=python3,ca-certificates + mke2fs -d (median of ${RUNS}, empty caches)`);
  const { ref, stop } = await serveDebootstrapImage();
  const scratch = mkdtempSync(join(tmpdir(), 'bench-create-'));
  try {
    const ours = join(scratch, 'ours.ext4');
    const cache = join(scratch, 'cache');
    const tree = join(scratch, 'rootfs');
    const theirs = join(scratch, 'theirs.ext4');
    const us = repeat(RUNS, () =>
      measure([process.execPath, CLI, 'rootfs', 'create', '-q', '--lang', 'python', '--base', ref, '-s', String(SIZE_MIB), '-o', ours], {
        env: { ...process.env, INFRA_OPERATOR_CACHE_DIR: cache },
      }),
    () => rmSync(cache, { recursive: true, force: true }));
    const ourSet = packageSet(execFileSync('debugfs', ['-R', 'cat /var/lib/dpkg/status', ours], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }));
    const peer = repeat(RUNS, () => {
      const a = measure(['debootstrap', '--variant=minbase', '--include=python3,ca-certificates', 'bookworm', tree, debianMirror()]);
      const b = measure(['mke2fs', '-q', '-F', '-t', 'ext4', '-d', tree, theirs, `${SIZE_MIB}M`]);
      return { seconds: a.seconds + b.seconds, rssMiB: Math.max(a.rssMiB, b.rssMiB) };
    }, () => rmSync(tree, { recursive: true, force: true }));
    const theirSet = packageSet(readFileSync(join(tree, 'var/lib/dpkg/status'), 'utf8'));
    const onlyOurs = ourSet.filter((p) => !theirSet.includes(p));
    const onlyTheirs = theirSet.filter((p) => !ourSet.includes(p));
    const sameSet = onlyOurs.length === 0 && onlyTheirs.length === 0 ? `the same ${ourSet.length} packages` : `sets differ: only ours ${onlyOurs.join(' ') || '-'}; only debootstrap ${onlyTheirs.join(' ') || '-'}`;
    console.log(
      `python on debian  infra.operator ${fmt(us.seconds)} s ${fmt(us.rssMiB, 0)} MiB RSS  debootstrap + mke2fs ${fmt(peer.seconds)} s ${fmt(peer.rssMiB, 0)} MiB RSS` +
        `  ratio ${fmt(us.seconds / peer.seconds)}×  (${sameSet})`,
    );
  } finally {
    stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

// Shared helpers for the benchmarks: timing child processes with GNU time (wall seconds
// and peak RSS), medians, and building the shared inputs once.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(BENCH, '..');
export const WORK = join(BENCH, '.work');
export const CLI = join(REPO, 'bin/infra.operator.js');
export const ALPINE = join(REPO, 'fixtures/alpine-3.20/blobs/sha256/d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c');

/** Runs argv under /usr/bin/time; returns wall seconds and peak RSS in MiB. */
export function measure(argv, options = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '@@%e %M', ...argv], { encoding: 'utf8', maxBuffer: 1 << 26, ...options });
  const m = /@@([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { seconds: Number(m[1]), rssMiB: Number(m[2]) / 1024 };
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs `fn` `n` times (after `before` each time) and returns the median wall and max RSS. */
export function repeat(n, fn, before = () => {}) {
  const runs = [];
  for (let i = 0; i < n; i++) {
    before();
    runs.push(fn());
  }
  return { seconds: median(runs.map((r) => r.seconds)), rssMiB: Math.max(...runs.map((r) => r.rssMiB)) };
}

export function debianMirror() {
  for (const file of ['/etc/apt/sources.list.d/debian.sources']) {
    if (existsSync(file)) {
      const m = /^URIs:\s*(\S+)/m.exec(readFileSync(file, 'utf8'));
      if (m) return m[1];
    }
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : '';
  return (/^deb\s+(\S+)\s+\S+\s+main/m.exec(list) ?? [])[1] ?? 'http://deb.debian.org/debian';
}

/** A debootstrap minbase bookworm tree, built once (about 200 MB, 6.8k entries). */
export function debootstrapTree() {
  const dir = join(WORK, 'rootfs');
  if (existsSync(join(dir, 'etc/debian_version'))) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  console.error(`building a debootstrap minbase tree in ${dir} (a few minutes, once)…`);
  execFileSync('debootstrap', ['--variant=minbase', 'bookworm', dir, debianMirror()], { stdio: ['ignore', 'ignore', 'inherit'] });
  return dir;
}

export function fmt(n, digits = 2) {
  return Number(n).toFixed(digits);
}

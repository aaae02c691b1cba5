// Shared helpers for the benchmarks: timing child processes with GNU time (wall seconds
// and peak RSS), medians, building the shared inputs once, and the loopback registry.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
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

/**
 * Runs every case once per round, `n` rounds, the cases alternating (so a slow spell of a
 * shared machine hits all of them); per case the median wall time, the max peak RSS and
 * every run's seconds. `before` runs before each case.
 */
export function alternate(n, cases, before = () => {}) {
  const runs = Object.fromEntries(Object.keys(cases).map((name) => [name, []]));
  for (let i = 0; i < n; i++) {
    for (const [name, fn] of Object.entries(cases)) {
      before(name);
      runs[name].push(fn());
    }
  }
  return Object.fromEntries(
    Object.entries(runs).map(([name, r]) => [name, { seconds: median(r.map((x) => x.seconds)), rssMiB: Math.max(...r.map((x) => x.rssMiB)), all: r.map((x) => x.seconds) }]),
  );
}

/**
 * Another build of the CLI to run beside this one (`BENCH_BASE_CLI=/path/bin/infra.operator.js`,
 * e.g. the main branch's), so a change is measured against what it replaces in the same run.
 */
export const BASE_CLI = process.env.BENCH_BASE_CLI;

/** `0.81 0.79 0.84` */
export function runsOf(m) {
  return m.all.map((s) => fmt(s)).join(' ');
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

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRegistry(dir) {
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${join(dir, 'storage')}}}\nhttp: {addr: 127.0.0.1:${port}}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return { host: `127.0.0.1:${port}`, stop: () => child.kill() };
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('docker-registry did not start');
}

/** The debootstrap tree as an OCI layout with two layers: everything but /usr, then /usr. */
export function debootstrapImage() {
  const layout = join(WORK, 'pull-oci');
  if (existsSync(join(layout, 'index.json'))) return layout;
  rmSync(layout, { recursive: true, force: true });
  const tree = debootstrapTree();
  const bundle = join(WORK, 'pull-bundle');
  rmSync(bundle, { recursive: true, force: true });
  execFileSync('umoci', ['init', '--layout', layout]);
  execFileSync('umoci', ['new', '--image', `${layout}:bench`]);
  execFileSync('umoci', ['unpack', '--image', `${layout}:bench`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  execFileSync('sh', ['-c', `tar -C '${tree}' --exclude=./usr -cf - . | tar -C '${rootfs}' -xpf -`]);
  execFileSync('umoci', ['repack', '--refresh-bundle', '--image', `${layout}:bench`, bundle]);
  execFileSync('sh', ['-c', `tar -C '${tree}' -cf - ./usr | tar -C '${rootfs}' -xpf -`]);
  execFileSync('umoci', ['repack', '--image', `${layout}:bench`, bundle]);
  rmSync(bundle, { recursive: true, force: true });
  return layout;
}

/** The debootstrap image pushed to a fresh loopback docker-registry; `stop` removes both. */
export async function serveDebootstrapImage() {
  const layout = debootstrapImage();
  const dir = mkdtempSync(join(tmpdir(), 'bench-registry-'));
  const registry = await startRegistry(dir);
  const stop = () => {
    registry.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ref = `${registry.host}/bench:latest`;
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${ref}`]);
    return { layout, ref, host: registry.host, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

// `from-docker` of a realistic image (the debootstrap tree as a 2-layer image in the
// loopback registry) against the daemonless pipeline people use today — skopeo copy +
// umoci raw unpack + mke2fs -d — and against merely gunzipping the layers. Same run,
// empty blob cache each time.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI, WORK, debootstrapTree, fmt, measure, repeat } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE_MIB = 512;

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
function twoLayerImage() {
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

function layerBlobs(layout) {
  const dir = join(layout, 'blobs/sha256');
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((f) => execFileSync('sh', ['-c', `head -c2 '${f}' | od -An -tx1`], { encoding: 'utf8' }).trim() === '1f 8b');
}

export async function benchPull() {
  console.log(`# from-docker from the loopback registry vs skopeo copy + umoci raw unpack + mke2fs -d (median of ${RUNS}, empty cache)`);
  const layout = twoLayerImage();
  const regDir = mkdtempSync(join(tmpdir(), 'bench-registry-'));
  const registry = await startRegistry(regDir);
  try {
    const ref = `${registry.host}/bench:latest`;
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${ref}`]);
    const scratch = mkdtempSync(join(tmpdir(), 'bench-pull-'));
    const ours = join(scratch, 'ours.ext4');
    const cache = join(scratch, 'cache');
    const clean = () => {
      for (const p of [ours, cache, join(scratch, 'oci'), join(scratch, 'rootfs'), join(scratch, 'theirs.ext4')]) rmSync(p, { recursive: true, force: true });
    };
    const us = repeat(RUNS, () =>
      measure([process.execPath, CLI, 'rootfs', 'from-docker', '-q', '-n', 'bench', '-i', ref, '-s', String(SIZE_MIB), '-o', ours, '--init', 'none', '--guest-runner', 'none'], {
        env: { ...process.env, INFRA_OPERATOR_CACHE_DIR: cache },
      }),
    clean);
    const pipeline = repeat(RUNS, () => {
      const a = measure(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(scratch, 'oci')}:bench`]);
      const b = measure(['umoci', 'raw', 'unpack', '--image', `${join(scratch, 'oci')}:bench`, join(scratch, 'rootfs')]);
      const c = measure(['mke2fs', '-q', '-F', '-t', 'ext4', '-d', join(scratch, 'rootfs'), join(scratch, 'theirs.ext4'), `${SIZE_MIB}M`]);
      return { seconds: a.seconds + b.seconds + c.seconds, rssMiB: Math.max(a.rssMiB, b.rssMiB, c.rssMiB) };
    }, clean);
    const blobs = layerBlobs(layout);
    const gunzip = repeat(RUNS, () => measure(['sh', '-c', `cat ${blobs.map((b) => `'${b}'`).join(' ')} | gzip -dc > /dev/null`]));
    rmSync(scratch, { recursive: true, force: true });
    console.log(
      `debootstrap 2 layers  infra.operator ${fmt(us.seconds)} s ${fmt(us.rssMiB, 0)} MiB RSS  pipeline ${fmt(pipeline.seconds)} s  gunzip ${fmt(gunzip.seconds)} s` +
        `  ratio vs pipeline ${fmt(us.seconds / pipeline.seconds)}×  vs gunzip ${fmt(us.seconds / gunzip.seconds)}×`,
    );
  } finally {
    registry.stop();
    rmSync(regDir, { recursive: true, force: true });
  }
}

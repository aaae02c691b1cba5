// `from-docker` of a realistic image (the debootstrap tree as a 2-layer image in the
// loopback registry) against the daemonless pipeline people use today — skopeo copy +
// umoci raw unpack + mke2fs -d — and against merely gunzipping the layers. Same run,
// empty blob cache each time.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { CLI, fmt, measure, repeat, serveDebootstrapImage } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE_MIB = 512;

function layerBlobs(layout) {
  const dir = join(layout, 'blobs/sha256');
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((f) => execFileSync('sh', ['-c', `head -c2 '${f}' | od -An -tx1`], { encoding: 'utf8' }).trim() === '1f 8b');
}

export async function benchPull() {
  console.log(`# from-docker from the loopback registry vs skopeo copy + umoci raw unpack + mke2fs -d (median of ${RUNS}, empty cache)`);
  const { layout, ref, stop } = await serveDebootstrapImage();
  try {
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
    stop();
  }
}

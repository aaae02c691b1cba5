// `from-docker` of a realistic image (the debootstrap tree as a 2-layer image in the
// loopback registry) against the daemonless pipeline people use today — skopeo copy +
// umoci raw unpack + mke2fs -d — and against merely gunzipping the layers. Same run:
// an empty blob cache (cold), then the blobs cached (warm), then the tree as tar:.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BASE_CLI, CLI, alternate, fmt, measure, runsOf, serveDebootstrapImage } from './lib.js';
import { debootstrapTar } from './writer.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE_MIB = 1024;

function layerBlobs(layout) {
  const dir = join(layout, 'blobs/sha256');
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((f) => execFileSync('sh', ['-c', `head -c2 '${f}' | od -An -tx1`], { encoding: 'utf8' }).trim() === '1f 8b');
}

export async function benchPull() {
  console.log(`# from-docker from the loopback registry vs skopeo copy + umoci raw unpack + mke2fs -d (median of ${RUNS} alternating runs)`);
  const { layout, ref, stop } = await serveDebootstrapImage();
  const { tar } = debootstrapTar();
  try {
    const scratch = mkdtempSync(join(tmpdir(), 'bench-pull-'));
    const ours = join(scratch, 'ours.ext4');
    const cache = join(scratch, 'cache');
    const clean = (name) => {
      // The warm run keeps the blobs the cold run before it cached.
      const keep = name === 'warm' || name === 'baseWarm' ? [cache] : [];
      for (const p of [ours, `${ours}.json`, cache, join(scratch, 'oci'), join(scratch, 'rootfs'), join(scratch, 'theirs.ext4')]) if (!keep.includes(p)) rmSync(p, { recursive: true, force: true });
    };
    const fromDocker = (cli, image) => () =>
      measure([process.execPath, cli, 'rootfs', 'from-docker', '-q', '-n', 'bench', '-i', image, '-s', String(SIZE_MIB), '-o', ours, '--init', 'none', '--guest-runner', 'none'], {
        env: { ...process.env, INFRA_OPERATOR_CACHE_DIR: cache },
      });
    const blobs = layerBlobs(layout);
    const cases = {
      cold: fromDocker(CLI, ref),
      warm: fromDocker(CLI, ref),
      tar: fromDocker(CLI, `tar:${tar}`),
      ...(BASE_CLI ? { baseCold: fromDocker(BASE_CLI, ref), baseWarm: fromDocker(BASE_CLI, ref) } : {}),
      pipeline: () => {
        const a = measure(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(scratch, 'oci')}:bench`]);
        const b = measure(['umoci', 'raw', 'unpack', '--image', `${join(scratch, 'oci')}:bench`, join(scratch, 'rootfs')]);
        const c = measure(['sh', '-c', `mke2fs -q -F -t ext4 -d '${join(scratch, 'rootfs')}' '${join(scratch, 'theirs.ext4')}' ${SIZE_MIB}M && sync '${join(scratch, 'theirs.ext4')}'`]);
        return { seconds: a.seconds + b.seconds + c.seconds, rssMiB: Math.max(a.rssMiB, b.rssMiB, c.rssMiB) };
      },
      gunzip: () => measure(['sh', '-c', `cat ${blobs.map((b) => `'${b}'`).join(' ')} | gzip -dc > /dev/null`]),
    };
    const r = alternate(RUNS, cases, clean);
    rmSync(scratch, { recursive: true, force: true });
    const line = (label, m) =>
      `  ${label.padEnd(34)} ${fmt(m.seconds)} s  ${fmt(m.rssMiB, 0).padStart(4)} MiB RSS  ${fmt(m.seconds / r.pipeline.seconds)}× pipeline  ${fmt(m.seconds / r.gunzip.seconds)}× gunzip  (runs ${runsOf(m)})`;
    console.log(`debootstrap, 2 layers, image ${SIZE_MIB} MiB`);
    console.log(line('skopeo + umoci + mke2fs -d, sync', r.pipeline));
    console.log(line('gzip -dc of the layers', r.gunzip));
    console.log(line('from-docker, cold cache', r.cold));
    console.log(line('from-docker, warm cache', r.warm) + `  ${fmt(r.warm.seconds / r.tar.seconds)}× tar:`);
    console.log(line('from-docker tar: of the same tree', r.tar));
    if (r.baseCold) console.log(line('BENCH_BASE_CLI, cold cache', r.baseCold));
    if (r.baseWarm) console.log(line('BENCH_BASE_CLI, warm cache', r.baseWarm));
  } finally {
    stop();
  }
}

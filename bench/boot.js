// Boot-to-ready time per kind of image (reported, not asserted): each image is built with
// from-docker and booted with the machine's kernel under qemu (TCG here; KVM where the
// CPU offers it). "ready" is the guest runner's ready line on the console.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootJob } from '../dist/vm/qemu.js';
import { ALPINE, CLI, debootstrapTree, fmt, median } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function build(dir, name, image) {
  const out = join(dir, `${name}.ext4`);
  execFileSync(process.execPath, [CLI, 'rootfs', 'from-docker', '-q', '-n', name, '-i', image, '-s', 'auto', '-o', out], { stdio: 'inherit' });
  return out;
}

export async function benchBoot() {
  console.log(`# boot to the guest runner's ready line (median of ${RUNS})`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-boot-'));
  try {
    const images = { alpine: build(dir, 'alpine', `tar:${ALPINE}`) };
    const tree = debootstrapTree();
    const debTar = join(dir, 'debian.tar');
    execFileSync('tar', ['--numeric-owner', '-cf', debTar, '-C', tree, '.']);
    images['debian-minbase'] = build(dir, 'debian', `tar:${debTar}`);
    for (const [name, image] of Object.entries(images)) {
      const ready = [];
      const total = [];
      let accel = '';
      for (let i = 0; i < RUNS; i++) {
        const started = Date.now();
        const outcome = await bootJob({ image, accel: 'auto', persist: false, job: { lang: 'sh', code: 'echo ok', timeout: 60 } });
        if (outcome.result.status !== 'success') throw new Error(`${name}: ${JSON.stringify(outcome.result)}`);
        ready.push(outcome.readyMs);
        total.push(Date.now() - started);
        accel = outcome.accel;
      }
      console.log(`${name.padEnd(16)} ready ${fmt(median(ready) / 1000)} s  whole job incl. power-off ${fmt(median(total) / 1000)} s  (${accel})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

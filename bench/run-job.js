// `rootfs run` from command start to the job's result, against a hand-made reference: the
// same Alpine minirootfs whose BusyBox init runs a one-line service (print the result,
// power off), written by `mke2fs -d` and booted the same way (same qemu arguments, kernel,
// initrd, job disk, accelerator). Both end when qemu exits after the guest powers off.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseAccel, defaultKernel, qemuArgs } from '../dist/vm/qemu.js';
import { ALPINE, BASE_CLI, CLI, alternate, fmt, measure, runsOf } from './lib.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RESULT = 'bench-result: ok';

/** The minirootfs with an inittab of one service that prints RESULT and powers off. */
function referenceImage(dir) {
  const tree = join(dir, 'reference');
  mkdirSync(tree);
  execFileSync('tar', ['-xzf', ALPINE, '-C', tree]);
  writeFileSync(join(tree, 'etc/inittab'), '::sysinit:/etc/job.sh\n');
  writeFileSync(join(tree, 'etc/job.sh'), `#!/bin/sh\necho '${RESULT}' > /dev/ttyS0\nexec /sbin/poweroff -f\n`);
  chmodSync(join(tree, 'etc/job.sh'), 0o755);
  const image = join(dir, 'reference.ext4');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, image, '64M']);
  return image;
}

export async function benchRun() {
  console.log(`# rootfs run (command start → job result) vs a hand-made BusyBox image booted the same way (median of ${RUNS} alternating runs)`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-run-'));
  try {
    const ours = join(dir, 'alpine.ext4');
    execFileSync(process.execPath, [CLI, 'rootfs', 'from-docker', '-q', '-n', 'alpine', '-i', `tar:${ALPINE}`, '-s', '64', '-o', ours]);
    const reference = referenceImage(dir);
    const { kernel, initrd } = await defaultKernel();
    const accel = await chooseAccel('auto');
    const jobDisk = join(dir, 'job.img');
    writeFileSync(jobDisk, Buffer.alloc(1024 * 1024));
    const args = qemuArgs({ kernel, initrd, rootfs: reference, jobDisk, accel, persist: false, memoryMb: 512, vcpus: 1 });
    const run = (cli) => () => measure([process.execPath, cli, 'rootfs', 'run', ours, '--code', 'echo ok', '--accel', accel]);
    const cases = {
      reference: () => measure(['timeout', '600', 'qemu-system-x86_64', ...args]),
      ours: run(CLI),
      ...(BASE_CLI ? { base: run(BASE_CLI) } : {}),
    };
    // The reference must really have printed its result: checked once, outside the timing.
    const check = spawnSync('timeout', ['600', 'qemu-system-x86_64', ...args], { encoding: 'utf8' });
    if (!check.stdout.includes(RESULT)) throw new Error(`the reference image did not print its result: ${check.stdout.slice(-2000)}`);
    const r = alternate(RUNS, cases);
    const line = (label, m) => `  ${label.padEnd(40)} ${fmt(m.seconds)} s  ${fmt(m.rssMiB, 0).padStart(4)} MiB RSS  ${fmt(m.seconds / r.reference.seconds)}× reference  (runs ${runsOf(m)})`;
    console.log(`alpine minirootfs, ${accel}, job 'echo ok'`);
    console.log(line('reference (mke2fs -d, busybox init, qemu)', r.reference));
    console.log(line('rootfs run', r.ours));
    if (r.base) console.log(line('rootfs run, BENCH_BASE_CLI', r.base));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

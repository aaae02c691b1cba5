/**
 * Boots a rootfs image under QEMU (q35, virtio disks, serial console) and runs one job
 * through its guest runner. The stand-in for Firecracker on machines that have QEMU;
 * docs/boot.md says why each flag is there.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfraError } from '../errors.js';
import { ConsoleWatcher, JOB_LIMITS, checkJob, jobArchive, maxResultLine, newSecret } from '../guest/protocol.js';
import type { JobResult, JobSpec } from '../guest/protocol.js';

export { JOB_LIMITS };

export type AccelChoice = 'auto' | 'kvm' | 'tcg';

export interface BootJobOptions {
  image: string;
  kernel?: string;
  initrd?: string;
  accel: AccelChoice;
  /** Write to the image; otherwise QEMU keeps every write in a temporary overlay. */
  persist: boolean;
  /** Copies the guest console here as it arrives (the CLI's --console). */
  console?: NodeJS.WritableStream;
  job: Omit<JobSpec, 'poweroff'>;
  /** Seconds from start to the runner's ready line, 1 to JOB_LIMITS.maxTimeout. */
  bootTimeout?: number;
  memoryMb?: number;
  qemu?: string;
}

export interface BootJobOutcome {
  result: JobResult;
  /** The guest powered itself off (QEMU exited on its own after the result). */
  poweredOff: boolean;
  accel: 'kvm' | 'tcg';
  console: string;
  /** Milliseconds from starting the VM to the runner's ready line. */
  readyMs: number;
}

const QEMU = 'qemu-system-x86_64';
/**
 * After the job's own timeout: time for the runner to stop the job, encode its output
 * and print the result. Encoding costs about 3 s per MiB with busybox awk on a host core
 * (docs/guest-runner.md) and many times that under TCG: these allow for stdout and stderr
 * both at max_output.
 */
const RESULT_BASE_S = 60;
const ENCODE_S_PER_MIB = { kvm: 15, tcg: 120 } as const;
/** Time the guest gets to shut down cleanly after printing the result. */
const POWEROFF_WAIT_S = 60;

/** The machine's newest kernel in /boot and the initrd made for it. */
export async function defaultKernel(): Promise<{ kernel: string; initrd?: string }> {
  const names = await readdir('/boot').catch(() => [] as string[]);
  const versions = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const version = versions.pop();
  if (version === undefined) {
    throw new InfraError(
      'VM_UNAVAILABLE',
      'No kernel in /boot to boot the image with. Install one (apt-get install linux-image-amd64) or pass --kernel PATH.',
    );
  }
  const initrd = `/boot/initrd.img-${version}`;
  return { kernel: `/boot/vmlinuz-${version}`, initrd: (await readable(initrd)) ? initrd : undefined };
}

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** KVM only when the CPU has vmx/svm AND /dev/kvm opens (a software /dev/kvm cannot run a kernel). */
export async function chooseAccel(choice: AccelChoice): Promise<'kvm' | 'tcg'> {
  if (choice === 'tcg') return 'tcg';
  const usable = await kvmUsable();
  if (choice === 'kvm' && !usable) {
    throw new InfraError('VM_UNAVAILABLE', 'KVM is not usable here (no vmx/svm CPU flag or /dev/kvm cannot be opened). Use --accel tcg.');
  }
  return usable ? 'kvm' : 'tcg';
}

async function kvmUsable(): Promise<boolean> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  if (!/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) return false;
  try {
    const handle = await open('/dev/kvm', 'r+');
    await handle.close();
    return true;
  } catch {
    return false;
  }
}

/** Kernel command line: serial console, root on the first virtio disk, no reboot loops. */
export function kernelCommandLine(): string {
  return 'console=ttyS0 root=/dev/vda rootfstype=ext4 rw panic=1 reboot=k quiet loglevel=3';
}

export function qemuArgs(o: {
  kernel: string;
  initrd?: string;
  image: string;
  jobDisk: string;
  accel: 'kvm' | 'tcg';
  persist: boolean;
  memoryMb: number;
}): string[] {
  const args = ['-machine', `q35,accel=${o.accel}`, '-cpu', o.accel === 'kvm' ? 'host' : 'max', '-smp', '1', '-m', String(o.memoryMb)];
  args.push('-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', 'stdio');
  args.push('-kernel', o.kernel, '-append', kernelCommandLine());
  if (o.initrd) args.push('-initrd', o.initrd);
  const snapshot = o.persist ? '' : ',snapshot=on';
  // QEMU option values escape a comma by doubling it.
  const file = (path: string) => path.replace(/,/g, ',,');
  args.push('-drive', `file=${file(o.image)},format=raw,if=none,id=root,cache=writeback${snapshot}`, '-device', 'virtio-blk-pci,drive=root');
  // Writable: the runner zeroes the secret's sector before the job runs.
  args.push('-drive', `file=${file(o.jobDisk)},format=raw,if=none,id=job`, '-device', 'virtio-blk-pci,drive=job');
  return args;
}

/** Seconds from the ready line to the result: the job's timeout plus stopping and encoding. */
export function resultDeadline(job: Pick<JobSpec, 'timeout' | 'maxOutput'>, accel: 'kvm' | 'tcg'): number {
  const mib = (2 * (job.maxOutput ?? JOB_LIMITS.defaultMaxOutput)) / 1_048_576;
  return job.timeout + RESULT_BASE_S + Math.ceil(mib * ENCODE_S_PER_MIB[accel]);
}

export async function bootJob(options: BootJobOptions): Promise<BootJobOutcome> {
  checkJob(options.job);
  const bootTimeout = options.bootTimeout;
  if (bootTimeout !== undefined && !(Number.isInteger(bootTimeout) && bootTimeout > 0 && bootTimeout <= JOB_LIMITS.maxTimeout)) {
    throw new InfraError('USAGE', `bootTimeout must be a whole number of seconds from 1 to ${JOB_LIMITS.maxTimeout}, not ${bootTimeout}.`);
  }
  await ensureImage(options.image);
  const { kernel, initrd } = options.kernel
    ? { kernel: options.kernel, initrd: options.initrd }
    : { ...(await defaultKernel()), ...(options.initrd ? { initrd: options.initrd } : {}) };
  for (const file of [kernel, initrd]) {
    if (file !== undefined && !(await readable(file))) {
      throw new InfraError('VM_UNAVAILABLE', `Cannot read ${file}. Pass a readable --kernel/--initrd (linux-image-amd64 puts them in /boot).`);
    }
  }
  const accel = await chooseAccel(options.accel);
  const work = await mkdtemp(join(tmpdir(), 'infra-op-run-'));
  try {
    const jobDisk = join(work, 'job.tar');
    const secret = newSecret();
    await writeFile(jobDisk, jobArchive({ ...options.job, poweroff: true }, secret));
    const args = qemuArgs({ kernel, initrd, image: options.image, jobDisk, accel, persist: options.persist, memoryMb: options.memoryMb ?? 512 });
    const deadlines = { boot: bootTimeout ?? (accel === 'kvm' ? 60 : 240), result: resultDeadline(options.job, accel) };
    const watcher = new ConsoleWatcher(secret, maxResultLine(options.job.maxOutput));
    return await runQemu(options.qemu ?? QEMU, args, accel, deadlines, watcher, options.console);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function ensureImage(image: string): Promise<void> {
  if (!(await readable(image))) throw new InfraError('NOT_FOUND', `No rootfs image at ${image}. Build one with 'infra.operator rootfs from-docker'.`);
}

/**
 * Runs QEMU until the guest powers off after its result, or a deadline passes: boot
 * (to the ready line), result (the job's timeout plus stopping and encoding), power-off.
 * QEMU is killed at any deadline and when this process is interrupted.
 */
function runQemu(
  qemu: string,
  args: string[],
  accel: 'kvm' | 'tcg',
  deadlines: { boot: number; result: number },
  watcher: ConsoleWatcher,
  consoleCopy: NodeJS.WritableStream | undefined,
): Promise<BootJobOutcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let readyMs = -1;
    const child = spawn(qemu, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let stage: 'boot' | 'job' | 'poweroff' = 'boot';
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let timedOut: string | undefined;

    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const onSignal = () => kill();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const deadline = (seconds: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = what;
        kill();
      }, seconds * 1000);
    };
    deadline(deadlines.boot, `the guest runner did not report ready within ${deadlines.boot} s`);

    child.stdout.on('data', (chunk: Buffer) => {
      consoleCopy?.write(chunk);
      watcher.push(chunk);
      if (stage === 'boot' && watcher.ready) {
        stage = 'job';
        readyMs = Date.now() - started;
        deadline(deadlines.result, `no result from the guest within ${deadlines.result} s of its ready line`);
      }
      if (stage !== 'poweroff' && watcher.result !== undefined) {
        stage = 'poweroff';
        deadline(POWEROFF_WAIT_S, 'poweroff');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-65_536); // QEMU's own messages: the last ones tell
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      finish(() =>
        reject(
          err.code === 'ENOENT'
            ? new InfraError('VM_UNAVAILABLE', `${qemu} is not installed. Install it (apt-get install qemu-system-x86).`)
            : new InfraError('VM_UNAVAILABLE', `Cannot start ${qemu}: ${err.message}`, { cause: err }),
        ),
      );
    });
    child.on('close', (code) => {
      finish(() => {
        const consoleText = watcher.lastLines(200);
        if (watcher.result !== undefined) {
          resolve({ result: watcher.result, poweredOff: timedOut === undefined && code === 0, accel, console: consoleText, readyMs });
        } else if (!watcher.ready && timedOut === undefined && code !== 0 && stderr.trim() !== '') {
          reject(new InfraError('VM_UNAVAILABLE', `${qemu} failed: ${stderr.trim()}`));
        } else if (!watcher.ready) {
          reject(
            new InfraError(
              'ROOTFS',
              `The VM did not start the guest runner (${timedOut ?? `the VM stopped, exit ${code}`}). ` +
                `Last console lines:\n${watcher.lastLines()}\nRerun with --console to see the whole boot.`,
            ),
          );
        } else {
          resolve({ result: lostResult(timedOut ?? 'the VM stopped before printing a result'), poweredOff: false, accel, console: consoleText, readyMs });
        }
      });
    });

    function finish(settle: () => void) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      kill();
      settle();
    }
  });
}

/** The result when the runner started but none came back. */
function lostResult(why: string): JobResult {
  return { status: 'timeout', stdout: '', stderr: null, exitCode: null, exception: why, executionTime: 0, truncated: false };
}

/**
 * Boots a rootfs image under QEMU (q35, virtio disks, serial console) and runs one job
 * through its guest runner. The stand-in for Firecracker on machines that have QEMU;
 * docs/boot.md says why each flag is there.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, open, readFile, readdir, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { InfraError } from '../errors.js';
import type { ProgressEvent } from '../events.js';
import { temporaryDirectory } from '../io/temp.js';
import { ConsoleWatcher, JOB_LIMITS, checkJob, jobArchive, maxResultLine, newSecret } from '../guest/protocol.js';
import type { JobResult, JobSpec } from '../guest/protocol.js';

export { JOB_LIMITS };

export type AccelChoice = 'auto' | 'kvm' | 'tcg';

/**
 * Where a boot has got to, as it gets there: QEMU started, the kernel's first console
 * output, the runner's ready line, the job started (RUNNING_LINE), the result read.
 */
export type BootStage = 'booting' | 'kernel' | 'ready' | 'running' | 'done';
/** A boot's stages told through the library's one progress channel, as steps. */
export type BootEvent = ProgressEvent<BootStage>;

/**
 * The machine's bounds: at least what a kernel and initrd boot in, at most Firecracker's
 * 32 vCPUs; memory also at most what this host has, since the guest may touch all of it.
 */
export const VM_LIMITS = { defaultMemoryMb: 512, minMemoryMb: 128, maxMemoryMb: 65_536, defaultVcpus: 1, maxVcpus: 32 } as const;

export interface BootJobOptions {
  /** The ext4 file to boot. */
  rootfs: string;
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
  /** Guest memory in MiB (VM_LIMITS). */
  memoryMb?: number;
  /** Guest vCPUs (VM_LIMITS). */
  vcpus?: number;
  qemu?: string;
  /** Stops the boot or the job: QEMU is killed, the temporary files removed, and bootJob rejects with the signal's reason. */
  signal?: AbortSignal;
  onEvent?: (event: BootEvent) => void;
}

export interface BootJobOutcome {
  result: JobResult;
  /** The guest powered itself off (QEMU exited on its own after the result). */
  poweredOff: boolean;
  /**
   * QEMU was stopped as soon as the result was complete instead of waiting for the guest
   * to shut down: a run without `persist` (every write goes to an overlay that is thrown
   * away, so a clean shutdown saves nothing) and without `console` (which shows the guest
   * to its end).
   */
  stoppedAfterResult: boolean;
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
      'No kernel in /boot to boot the image with.',
      { option: 'kernel', hint: 'install one (apt-get install linux-image-amd64) or pass {kernel} PATH' },
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
    throw new InfraError('VM_UNAVAILABLE', 'KVM is not usable here (no vmx/svm CPU flag or /dev/kvm cannot be opened).', { option: 'accel', hint: 'use {accel} tcg' });
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
  rootfs: string;
  jobDisk: string;
  accel: 'kvm' | 'tcg';
  persist: boolean;
  memoryMb: number;
  vcpus: number;
}): string[] {
  const args = ['-machine', `q35,accel=${o.accel}`, '-cpu', o.accel === 'kvm' ? 'host' : 'max', '-smp', String(o.vcpus), '-m', String(o.memoryMb)];
  args.push('-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-serial', 'stdio');
  args.push('-kernel', o.kernel, '-append', kernelCommandLine());
  if (o.initrd) args.push('-initrd', o.initrd);
  const snapshot = o.persist ? '' : ',snapshot=on';
  // QEMU option values escape a comma by doubling it.
  const file = (path: string) => path.replace(/,/g, ',,');
  args.push('-drive', `file=${file(o.rootfs)},format=raw,if=none,id=root,cache=writeback${snapshot}`, '-device', 'virtio-blk-pci,drive=root');
  // Writable: the runner zeroes the secret's sector before the job runs.
  args.push('-drive', `file=${file(o.jobDisk)},format=raw,if=none,id=job`, '-device', 'virtio-blk-pci,drive=job');
  return args;
}

/** Seconds from the ready line to the result: the job's timeout plus stopping and encoding. */
export function resultDeadline(job: Pick<JobSpec, 'timeout' | 'maxOutput'>, accel: 'kvm' | 'tcg'): number {
  const mib = (2 * (job.maxOutput ?? JOB_LIMITS.defaultMaxOutput)) / 1_048_576;
  return job.timeout + RESULT_BASE_S + Math.ceil(mib * ENCODE_S_PER_MIB[accel]);
}

/** Refuses a machine or boot timeout out of bounds; call before any other work. */
export function checkMachine(o: Pick<BootJobOptions, 'memoryMb' | 'vcpus' | 'bootTimeout'>): void {
  const { minMemoryMb, maxVcpus } = VM_LIMITS;
  const maxMemoryMb = Math.min(VM_LIMITS.maxMemoryMb, Math.floor(totalmem() / 1_048_576));
  const memoryMb = o.memoryMb ?? VM_LIMITS.defaultMemoryMb;
  if (!Number.isInteger(memoryMb) || memoryMb < minMemoryMb || memoryMb > maxMemoryMb) {
    throw new InfraError('USAGE', `The VM's memory must be a whole number of MiB from ${minMemoryMb} to ${maxMemoryMb} (at most this host's memory), not ${memoryMb}.`, { option: 'memoryMb', hint: 'set {memoryMb} within that range' });
  }
  const vcpus = o.vcpus ?? VM_LIMITS.defaultVcpus;
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > maxVcpus) {
    throw new InfraError('USAGE', `The VM's vCPU count must be a whole number from 1 to ${maxVcpus}, not ${vcpus}.`, { option: 'vcpus', hint: 'set {vcpus} within that range' });
  }
  const bootTimeout = o.bootTimeout;
  if (bootTimeout !== undefined && !(Number.isInteger(bootTimeout) && bootTimeout > 0 && bootTimeout <= JOB_LIMITS.maxTimeout)) {
    throw new InfraError('USAGE', `bootTimeout must be a whole number of seconds from 1 to ${JOB_LIMITS.maxTimeout}, not ${bootTimeout}.`);
  }
}

export async function bootJob(options: BootJobOptions): Promise<BootJobOutcome> {
  checkJob(options.job);
  checkMachine(options);
  options.signal?.throwIfAborted();
  await ensureRootfs(options.rootfs);
  const { kernel, initrd } = options.kernel
    ? { kernel: options.kernel, initrd: options.initrd }
    : { ...(await defaultKernel()), ...(options.initrd ? { initrd: options.initrd } : {}) };
  for (const file of [kernel, initrd]) {
    if (file !== undefined && !(await readable(file))) {
      throw new InfraError('VM_UNAVAILABLE', `Cannot read ${file}. Pass a readable --kernel/--initrd (linux-image-amd64 puts them in /boot).`);
    }
  }
  const accel = await chooseAccel(options.accel);
  options.signal?.throwIfAborted();
  const workDir = await temporaryDirectory('infra-op-run-');
  const work = workDir.path;
  try {
    const jobDisk = join(work, 'job.tar');
    const secret = newSecret();
    await writeFile(jobDisk, jobArchive({ ...options.job, poweroff: true }, secret));
    const memoryMb = options.memoryMb ?? VM_LIMITS.defaultMemoryMb;
    const vcpus = options.vcpus ?? VM_LIMITS.defaultVcpus;
    const args = qemuArgs({ kernel, initrd, rootfs: options.rootfs, jobDisk, accel, persist: options.persist, memoryMb, vcpus });
    const deadlines = { boot: options.bootTimeout ?? (accel === 'kvm' ? 60 : 240), result: resultDeadline(options.job, accel) };
    const watcher = new ConsoleWatcher(secret, maxResultLine(options.job.maxOutput));
    const { signal, onEvent } = options;
    const stopAfterResult = !options.persist && options.console === undefined;
    return await runQemu({ qemu: options.qemu ?? QEMU, args, work, accel, deadlines, watcher, consoleCopy: options.console, stopAfterResult, signal, onEvent });
  } finally {
    await workDir.remove();
  }
}

/** Refuses an image path that is not a readable file, saying how to make one. */
export async function ensureRootfs(image: string): Promise<void> {
  if (!(await readable(image))) throw new InfraError('NOT_FOUND', `No rootfs image at ${image}. Build one with 'infra.operator rootfs from-docker'.`);
}

interface QemuRun {
  qemu: string;
  args: string[];
  /** QEMU's TMPDIR (its snapshot overlay goes there): the run's own directory, removed after. */
  work: string;
  accel: 'kvm' | 'tcg';
  deadlines: { boot: number; result: number };
  watcher: ConsoleWatcher;
  consoleCopy?: NodeJS.WritableStream;
  /** Stop QEMU once the result is complete (BootJobOutcome.stoppedAfterResult). */
  stopAfterResult: boolean;
  signal?: AbortSignal;
  onEvent?: (event: BootEvent) => void;
}

/**
 * Runs QEMU until the guest powers off after its result, or a deadline passes: boot
 * (to the ready line), result (the job's timeout plus stopping and encoding), power-off.
 * QEMU is killed at any deadline and when `signal` aborts. It runs in a process group of
 * its own, so that a Ctrl-C on the terminal reaches only this process, which stops it.
 */
function runQemu(run: QemuRun): Promise<BootJobOutcome> {
  const { qemu, accel, deadlines, watcher, signal } = run;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const emit = (stage: BootStage) => run.onEvent?.({ type: 'step', step: stage });
    let readyMs = -1;
    const child = spawn(qemu, run.args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: { ...process.env, TMPDIR: run.work } });
    emit('booting');
    let stderr = '';
    let stage: 'boot' | 'job' | 'poweroff' = 'boot';
    let consoleSeen = false;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let timedOut: string | undefined;
    let stoppedAfterResult = false;

    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', kill, { once: true });
    if (signal?.aborted) kill(); // aborted while the job disk was written
    const deadline = (seconds: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = what;
        kill();
      }, seconds * 1000);
    };
    deadline(deadlines.boot, `the guest runner did not report ready within ${deadlines.boot} s`);

    child.stdout.on('data', (chunk: Buffer) => {
      run.consoleCopy?.write(chunk);
      if (!consoleSeen) {
        consoleSeen = true;
        emit('kernel');
      }
      const wasRunning = watcher.running;
      watcher.push(chunk);
      if (stage === 'boot' && watcher.ready) {
        stage = 'job';
        readyMs = Date.now() - started;
        emit('ready');
        deadline(deadlines.result, `no result from the guest within ${deadlines.result} s of its ready line`);
      }
      if (!wasRunning && watcher.running) emit('running');
      if (stage !== 'poweroff' && watcher.result !== undefined) {
        stage = 'poweroff';
        emit('done');
        deadline(POWEROFF_WAIT_S, 'poweroff');
        if (run.stopAfterResult) {
          stoppedAfterResult = true;
          kill();
        }
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
        if (signal?.aborted) {
          reject(signal.reason);
        } else if (watcher.result !== undefined) {
          resolve({ result: watcher.result, poweredOff: !stoppedAfterResult && timedOut === undefined && code === 0, stoppedAfterResult, accel, console: consoleText, readyMs });
        } else if (!watcher.ready && timedOut === undefined && code !== 0 && stderr.trim() !== '') {
          reject(new InfraError('VM_UNAVAILABLE', `${qemu} failed: ${stderr.trim()}`));
        } else if (!watcher.ready) {
          reject(
            new InfraError(
              'ROOTFS',
              `The VM did not start the guest runner (${timedOut ?? `the VM stopped, exit ${code}`}). ` +
                `Last console lines:\n${watcher.lastLines()}`,
              { option: 'console', hint: 'rerun with {console} to see the whole boot' },
            ),
          );
        } else {
          resolve({ result: lostResult(timedOut ?? 'the VM stopped before printing a result'), poweredOff: false, stoppedAfterResult: false, accel, console: consoleText, readyMs });
        }
      });
    });

    function finish(settle: () => void) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      kill();
      settle();
    }
  });
}

/** The result when the runner started but none came back. */
function lostResult(why: string): JobResult {
  return { status: 'timeout', stdout: '', stderr: null, exitCode: null, exception: why, executionTime: 0, truncated: false };
}

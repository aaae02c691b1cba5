import type { CommandModule } from 'yargs';
import { EXIT } from '../../errors.js';
import { interruptible } from '../interrupt.js';
import { wholeNumber } from '../numbers.js';
import type { RunResult } from '../../api/run.js';
import { JOB_LIMITS, VM_LIMITS } from '../../vm/qemu.js';
import type { AccelChoice, BootEvent, BootStage } from '../../vm/qemu.js';

interface RunArgs {
  image: string;
  code: string;
  lang: string;
  kernel?: string;
  initrd?: string;
  timeout: number;
  'max-output'?: number;
  user?: string;
  mem: number;
  vcpus: number;
  accel: AccelChoice;
  persist: boolean;
  console: boolean;
  'images-dir'?: string;
}

/** `tr-` and a nanosecond timestamp, as the seed's host command prints it. */
function traceId(): string {
  const ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  return `tr-${ns}`;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run <image>',
  describe: 'Boot a rootfs image under QEMU and run one job through its guest runner; prints the result JSON',
  builder: (y) =>
    y
      .example("infra.operator rootfs run ./rootfs-alpine.ext4 --code 'uname -a'", 'boot an image and run one shell command')
      .positional('image', { type: 'string', describe: 'Name (rootfs-NAME.ext4 in the images dir) or path', demandOption: true })
      .option('code', { alias: 'c', type: 'string', demandOption: true, describe: 'Program text to run' })
      .option('lang', { alias: 'l', type: 'string', default: 'sh', describe: 'Language (sh, python, node, go, …; see docs/guest-runner.md)' })
      .option('kernel', { type: 'string', describe: 'Kernel image (default: the newest /boot/vmlinuz-*)' })
      .option('initrd', { type: 'string', describe: 'Initrd (default: the one made for the default kernel)' })
      .option('timeout', { type: 'string', coerce: wholeNumber('timeout'), default: JOB_LIMITS.defaultTimeout, describe: `Seconds the program may run (at most ${JOB_LIMITS.maxTimeout})` })
      .option('max-output', {
        type: 'string',
        coerce: wholeNumber('max-output'),
        describe: `Bytes kept of stdout and of stderr each; more sets "truncated": true (default ${JOB_LIMITS.defaultMaxOutput}, at most ${JOB_LIMITS.maxMaxOutput})`,
      })
      .option('user', { type: 'string', describe: "Run the job as this user (name, uid, name:group, uid:gid) instead of the image's USER" })
      .option('mem', { type: 'string', coerce: wholeNumber('mem'), default: VM_LIMITS.defaultMemoryMb, describe: `Guest memory in MiB (${VM_LIMITS.minMemoryMb} to ${VM_LIMITS.maxMemoryMb}, at most this host's)` })
      .option('vcpus', { type: 'string', coerce: wholeNumber('vcpus'), default: VM_LIMITS.defaultVcpus, describe: `Guest vCPUs (1 to ${VM_LIMITS.maxVcpus})` })
      .option('accel', { choices: ['auto', 'kvm', 'tcg'] as const, default: 'auto' as AccelChoice, describe: 'QEMU accelerator' })
      .option('persist', { type: 'boolean', default: false, describe: 'Keep the guest\'s writes in the image (default: discarded)' })
      .option('console', { type: 'boolean', default: false, describe: 'Copy the guest console to stderr' })
      .option('images-dir', { type: 'string', describe: 'Images directory (default: $INFRA_OPERATOR_IMAGES_DIR or /srv/firecracker/images)' }),
  handler: async (argv) => {
    const trace_id = traceId();
    // The console copy is the boot's progress already; a status line would cut into it.
    const progress = argv.console ? undefined : bootProgress(process.stderr);
    const run = async (signal: AbortSignal) => {
      let outcome: RunResult;
      // Loaded on use: --help and --version need none of the VM's code.
      const { runJob } = await import('../../api/run.js');
      try {
        outcome = await runJob({
          rootfs: argv.image,
          imagesDir: argv['images-dir'],
          kernel: argv.kernel,
          initrd: argv.initrd,
          accel: argv.accel,
          persist: argv.persist,
          memoryMb: argv.mem,
          vcpus: argv.vcpus,
          console: argv.console ? process.stderr : undefined,
          job: { lang: argv.lang, code: argv.code, timeout: argv.timeout, maxOutput: argv['max-output'], user: argv.user },
          signal,
          onEvent: progress?.event,
        });
      } finally {
        // Before any line that follows: the result, or why there is none.
        progress?.end();
      }
      process.stdout.write(`${JSON.stringify({ trace_id, ...outcome.result }, null, 2)}\n`);
      if (!outcome.poweredOff && !outcome.stoppedAfterResult) process.stderr.write('Warning: the guest did not power off by itself; QEMU was stopped.\n');
      process.exitCode = outcome.result.status === 'success' ? EXIT.OK : EXIT.FAILED;
    };
    // SIGINT and SIGTERM abort the run (QEMU killed, files removed) instead of killing this process outright.
    await interruptible(run, { windsDown: true, outcome: 'the VM was stopped and its temporary files removed; no result' });
  },
};

const STAGE_WORDS: Record<BootStage, string> = {
  booting: 'Booting the VM',
  kernel: 'Kernel up',
  ready: 'Guest runner ready',
  running: 'Job running',
  done: 'Done',
};
const TICK_MS = 1000;

/**
 * One status line on a terminal: the boot's stage and the seconds since QEMU started,
 * redrawn at each stage and each second. Nothing when stderr is not a TTY.
 */
function bootProgress(stream: NodeJS.WriteStream) {
  if (!stream.isTTY) return undefined;
  let started: number | undefined;
  let stage: BootStage = 'booting';
  const seconds = () => (started === undefined ? 0 : (Date.now() - started) / 1000);
  const draw = () => {
    if (started !== undefined) stream.write(`\r\x1b[K${STAGE_WORDS[stage]}… ${seconds().toFixed(0)} s`);
  };
  const ticker = setInterval(draw, TICK_MS);
  ticker.unref();
  return {
    event(event: BootEvent): void {
      if (event.type !== 'step') return;
      started ??= Date.now();
      stage = event.step;
      draw();
    },
    /** Leaves "Done after N s" when the result came, else a clean line for what follows. */
    end(): void {
      clearInterval(ticker);
      if (started === undefined) return;
      stream.write(stage === 'done' ? `\r\x1b[K${STAGE_WORDS.done} after ${seconds().toFixed(1)} s\n` : '\r\x1b[K');
      started = undefined;
    },
  };
}

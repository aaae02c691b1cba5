import type { CommandModule } from 'yargs';
import { EXIT } from '../../errors.js';
import { JOB_LIMITS, bootJob } from '../../vm/qemu.js';
import type { AccelChoice } from '../../vm/qemu.js';
import { resolveImagePath } from '../../store/paths.js';

interface RunArgs {
  image: string;
  code: string;
  lang: string;
  kernel?: string;
  initrd?: string;
  timeout: number;
  'max-output'?: number;
  user?: string;
  accel: AccelChoice;
  persist: boolean;
  console: boolean;
  'images-dir'?: string;
}

/** NAME → <images dir>/rootfs-NAME.ext4; anything with a slash or .ext4 is a path. */
export function imagePath(image: string, imagesDir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolveImagePath(image, { imagesDir, env, orPath: true });
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
      .option('timeout', { type: 'number', default: JOB_LIMITS.defaultTimeout, describe: `Seconds the program may run (at most ${JOB_LIMITS.maxTimeout})` })
      .option('max-output', {
        type: 'number',
        describe: `Bytes kept of stdout and of stderr each; more sets "truncated": true (default ${JOB_LIMITS.defaultMaxOutput}, at most ${JOB_LIMITS.maxMaxOutput})`,
      })
      .option('user', { type: 'string', describe: "Run the job as this user (name, uid, name:group, uid:gid) instead of the image's USER" })
      .option('accel', { choices: ['auto', 'kvm', 'tcg'] as const, default: 'auto' as AccelChoice, describe: 'QEMU accelerator' })
      .option('persist', { type: 'boolean', default: false, describe: 'Keep the guest\'s writes in the image (default: discarded)' })
      .option('console', { type: 'boolean', default: false, describe: 'Copy the guest console to stderr' })
      .option('images-dir', { type: 'string', describe: 'Images directory (default: $INFRA_OPERATOR_IMAGES_DIR or /srv/firecracker/images)' }),
  handler: async (argv) => {
    const trace_id = traceId();
    const outcome = await bootJob({
      image: imagePath(argv.image, argv['images-dir']),
      kernel: argv.kernel,
      initrd: argv.initrd,
      accel: argv.accel,
      persist: argv.persist,
      console: argv.console ? process.stderr : undefined,
      job: { lang: argv.lang, code: argv.code, timeout: argv.timeout, maxOutput: argv['max-output'], user: argv.user },
    });
    process.stdout.write(`${JSON.stringify({ trace_id, ...outcome.result }, null, 2)}\n`);
    if (!outcome.poweredOff) process.stderr.write('Warning: the guest did not power off by itself; QEMU was stopped.\n');
    process.exitCode = outcome.result.status === 'success' ? EXIT.OK : EXIT.FAILED;
  },
};

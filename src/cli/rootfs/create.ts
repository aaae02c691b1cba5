import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { CreateResult, CreateStep } from '../../api/create.js';
import { CONFIGURE_MODES, DEFAULT_CREATE_SIZE_MB, type ConfigureMode } from '../../api/defaults.js';
import type { StepFacts } from '../../events.js';
import type { RootfsSize } from '../../ext4/size.js';
import { escapeControls } from '../escape.js';
import { progressView } from '../progress.js';
import { output } from '../output.js';
import { pullOptions, pullSettings, type PullArgs } from './pull-options.js';
import { parseRootfsSize } from '../../ext4/size.js';

interface CreateArgs extends PullArgs {
  lang: string;
  base: string;
  packages?: string;
  repository?: string[];
  configure: ConfigureMode;
  output?: string;
  imagesDir?: string;
  size: string;
  platform?: string;
  uuid?: string;
  quiet: boolean;
  json: boolean;
}

export const createCommand: CommandModule<object, CreateArgs> = {
  command: 'create',
  describe: 'Create a rootfs for a language runtime: Debian packages installed into a base image, without root',
  builder: (y: Argv) =>
    pullOptions(y)
      .example('infra.operator rootfs create --lang python', 'Python on the default base')
      .example('infra.operator rootfs create --lang nodejs --size 2048', 'a larger image')
      .example('infra.operator rootfs create --lang python --packages "numpy,pandas"', 'with extra packages (python3-numpy, python3-pandas)')
      .example('infra.operator rootfs create --lang python --base debian', 'on debian:bookworm-slim')
      .option('lang', { alias: 'l', type: 'string', demandOption: true, describe: 'Language runtime' })
      .option('base', { alias: 'b', type: 'string', default: 'alpine', describe: 'Base image: alpine (alpine:3.20), debian, ubuntu, or an Alpine or Debian-family image reference' })
      .option('packages', { alias: 'p', type: 'string', describe: 'Additional packages, comma-separated' })
      .option('repository', { type: 'string', array: true, describe: "Package repository: 'deb URL SUITE COMPONENTS' for a Debian base, a URL for an Alpine base (repeatable; default: the base's apt sources or /etc/apk/repositories)" })
      .option('configure', {
        type: 'string',
        choices: CONFIGURE_MODES,
        default: 'auto',
        describe: "Maintainer scripts' effects: static (handlers, no VM), vm (a build-time boot: not built yet), auto (static until the VM pass exists)",
      })
      .option('output', { alias: 'o', type: 'string', describe: 'Output path (default <images dir>/rootfs-{lang}.ext4)' })
      .option('images-dir', { type: 'string', describe: 'Images directory (env INFRA_OPERATOR_IMAGES_DIR; default /srv/firecracker/images)' })
      .option('size', { alias: 's', type: 'string', default: String(DEFAULT_CREATE_SIZE_MB), describe: 'Image size in MB (1 MB = 1,048,576 bytes), or auto' })
      .option('platform', { type: 'string', describe: 'Platform of the base image (default linux/amd64)' })
      .option('uuid', { type: 'string', describe: 'Filesystem UUID (default: derived from the content)' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only errors' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON document on stdout; steps go to stderr' }) as unknown as Argv<CreateArgs>,
  handler: async (args: ArgumentsCamelCase<CreateArgs>) => {
    const out = output(args);
    const size = parseRootfsSize(args.size);
    const packages = (args.packages ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
    const header = [`Creating rootfs for ${args.lang} from packages...`, `  Base: ${escapeControls(args.base)}`, `  Size: ${size === 'auto' ? 'auto' : `${size} MB`}`];
    // Loaded on use: --help and --version need none of the package installer.
    const { createRootfs, CREATE_STEPS } = await import('../../api/create.js');
    const view = progressView<CreateStep>(out, { header, steps: CREATE_STEPS, stepLine: (step, facts) => stepLine(step, facts, size), quiet: args.quiet });
    const result = await createRootfs({
      lang: args.lang,
      base: args.base,
      packages,
      ...(args.repository ? { repositories: args.repository } : {}),
      configure: args.configure,
      size,
      ...(args.output ? { output: args.output } : {}),
      ...(args.imagesDir ? { imagesDir: args.imagesDir } : {}),
      ...(args.platform !== undefined ? { platform: args.platform } : {}),
      ...pullSettings(args),
      ...(args.uuid !== undefined ? { uuid: args.uuid } : {}),
      onEvent: view.onEvent,
    }).finally(view.done);
    out.info(`Created: ${escapeControls(result.path)}`);
    out.result(summarize(result));
  },
};

const MIB = 1024 * 1024;

/** The wording of each step of `rootfs create`. */
function stepLine(step: CreateStep, facts: StepFacts, size: RootfsSize): string {
  switch (step) {
    case 'pull':
      return `Pulling base image: ${escapeControls(facts.reference ?? '')}...`;
    case 'repositories':
      return 'Reading repositories...';
    case 'resolve':
      return `Resolving packages: ${facts.repositories ?? 0} repositories read, ${facts.packages ?? 0} packages to install...`;
    case 'fetch':
      return `Fetching packages: ${Math.ceil((facts.bytes ?? 0) / MIB)} MB...`;
    case 'unpack':
      return `Unpacking ${facts.packages ?? 0} packages...`;
    case 'configure':
      return 'Configuring packages (static handlers: alternatives, CA certificates, PHP modules, small files)...';
    case 'boot':
      return 'Making bootable (init, guest runner, service)...';
    case 'write':
      return `Writing ext4 image (${size === 'auto' ? 'auto' : `${size}MB`})...`;
  }
}

function summarize(r: CreateResult): object {
  return {
    path: r.path,
    size: r.summary.sizeBytes,
    usedBytes: r.summary.usedBytes,
    uuid: r.summary.uuid,
    base: { reference: r.base.reference, digest: r.base.digest },
    packages: r.packages,
    configured: r.configuration.configured,
    unconfigured: r.configuration.unconfigured.map((entry) => entry.package),
    chunkedSha256: r.sidecar.chunkedSha256,
    boot: { init: r.boot.init, runner: r.boot.runner, service: r.boot.service ?? null },
  };
}

import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { BuildResult, BuildStep } from '../../api/build.js';
import type { InitChoice } from '../../boot/bootable.js';
import { type RootfsSize, parseRootfsSize } from '../../ext4/size.js';
import { assertRootfsName } from '../../store/paths.js';
import { escapeControls } from '../escape.js';
import { output } from '../output.js';
import { pullOptions, pullSettings, type PullArgs } from './pull-options.js';
import { progressView } from '../progress.js';

interface FromDockerArgs extends PullArgs {
  name: string;
  image: string;
  size: string;
  output?: string;
  imagesDir?: string;
  init: string;
  guestRunner: string;
  guestArgs?: string[];
  platform?: string;
  uuid?: string;
  quiet: boolean;
  json: boolean;
}

export const fromDockerCommand: CommandModule<object, FromDockerArgs> = {
  command: 'from-docker',
  describe: 'Create a rootfs from a container image (registry, OCI layout, archive or rootfs tarball)',
  builder: (y: Argv) =>
    pullOptions(y)
      .example('infra.operator rootfs from-docker --name python --image python:3.12-alpine --size 150', 'Python from Docker Hub')
      .example('infra.operator rootfs from-docker --name nodejs --image node:22-alpine --size 200', 'Node.js')
      .example('infra.operator rootfs from-docker --name go --image golang:1.22-alpine --size 300', 'Go')
      .example('infra.operator rootfs from-docker --name alpine --image oci:fixtures/alpine-3.20:3.20 --size 64 --output ./rootfs-alpine.ext4', 'from an OCI layout, to a file of your choice')
      .option('name', { alias: 'n', type: 'string', demandOption: true, describe: 'Name for the rootfs' })
      .option('image', {
        alias: 'i',
        type: 'string',
        demandOption: true,
        describe: 'Image: REF (registry), docker://REF, oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:REF] or tar:FILE',
      })
      .option('size', { alias: 's', type: 'string', demandOption: true, describe: 'Image size in MB (1 MB = 1,048,576 bytes), or auto' })
      .option('output', { alias: 'o', type: 'string', describe: 'Output path (default <images dir>/rootfs-<name>.ext4)' })
      .option('images-dir', { type: 'string', describe: 'Images directory (env INFRA_OPERATOR_IMAGES_DIR; default /srv/firecracker/images)' })
      .option('init', { type: 'string', default: 'auto', choices: ['auto', 'openrc', 'busybox', 'minimal', 'none'], describe: 'Init system to set up' })
      .option('guest-runner', { type: 'string', default: 'builtin', describe: 'Guest runner: builtin, none, or a path to your own binary' })
      .option('guest-args', { type: 'string', array: true, describe: 'Arguments the boot service passes to a custom guest runner (default: guest)' })
      .option('platform', { type: 'string', describe: 'Platform os/arch[/variant] (default linux/amd64)' })
      .option('uuid', { type: 'string', describe: 'Filesystem UUID (default: derived from the image content)' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only errors' })
      .option('json', { type: 'boolean', default: false, describe: 'Print one JSON document on stdout; steps go to stderr' }) as unknown as Argv<FromDockerArgs>,
  handler: async (args: ArgumentsCamelCase<FromDockerArgs>) => {
    const out = output(args);
    // Before any work: the name becomes a file name, the volume label and the hostname.
    assertRootfsName(args.name);
    const size = parseRootfsSize(args.size);
    const image = escapeControls(args.image);
    const header = [`Creating rootfs for ${args.name} from Docker image...`, `  Docker Image: ${image}`, `  Size: ${size === 'auto' ? 'auto' : `${size} MB`}`];
    // Loaded on use: --help and --version need none of the builder.
    const { buildRootfs, BUILD_STEPS } = await import('../../api/build.js');
    const view = progressView<BuildStep>(out, { header, steps: BUILD_STEPS, stepLine: (step) => stepLine(step, image, size), quiet: args.quiet });
    const result = await buildRootfs({
      name: args.name,
      image: args.image,
      size,
      ...(args.output ? { output: args.output } : {}),
      ...(args.imagesDir ? { imagesDir: args.imagesDir } : {}),
      init: args.init as InitChoice,
      guestRunner: args.guestRunner,
      ...(args.guestArgs ? { guestArgs: args.guestArgs } : {}),
      ...(args.platform !== undefined ? { platform: args.platform } : {}),
      ...pullSettings(args),
      ...(args.uuid !== undefined ? { uuid: args.uuid } : {}),
      onEvent: view.onEvent,
    }).finally(view.done);
    out.info(`Created: ${escapeControls(result.path)}`);
    out.result(summarize(result));
  },
};

/** The spec's wording of each build step. */
function stepLine(step: BuildStep, image: string, size: RootfsSize): string {
  switch (step) {
    case 'pull':
      return `Pulling Docker image: ${image}...`;
    case 'create':
      return `Creating ext4 image (${size === 'auto' ? 'auto' : `${size}MB`})...`;
    case 'export':
      return 'Exporting Docker filesystem...';
    case 'init':
      return 'Configuring init system...';
    case 'runner':
      return 'Installing guest-runner...';
    case 'service':
      return 'Creating service...';
  }
}


function summarize(r: BuildResult): object {
  return {
    path: r.path,
    size: r.summary.sizeBytes,
    usedBytes: r.summary.usedBytes,
    inodes: { count: r.summary.inodeCount, used: r.summary.inodeCount - r.summary.freeInodes },
    uuid: r.summary.uuid,
    source: { reference: r.image.reference, digest: r.image.digest, ...(r.platform ? { platform: r.platform } : {}) },
    chunkedSha256: r.sidecar.chunkedSha256,
    boot: { init: r.boot.init, runner: r.boot.runner, service: r.boot.service ?? null },
    timings: r.timings,
  };
}


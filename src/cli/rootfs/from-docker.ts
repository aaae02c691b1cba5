import type { CommandModule } from 'yargs';
import { notYet } from './pending.js';

export const fromDockerCommand: CommandModule = {
  command: 'from-docker',
  describe: 'Create a rootfs from a container image (registry, OCI layout, archive or rootfs tarball)',
  builder: (y) =>
    y
      .option('name', { alias: 'n', type: 'string', demandOption: true, describe: 'Name for the rootfs' })
      .option('image', { alias: 'i', type: 'string', demandOption: true, describe: 'Image to use' })
      .option('size', { alias: 's', type: 'string', demandOption: true, describe: 'Image size in MB, or auto' }),
  handler: () => notYet('from-docker', 'in progress'),
};

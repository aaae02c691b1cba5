import type { CommandModule } from 'yargs';
import { notYet } from './pending.js';

export const createCommand: CommandModule = {
  command: 'create',
  describe: 'Create a rootfs for a language runtime from a base distribution',
  builder: (y) =>
    y
      .example('infra.operator rootfs create --lang python', 'Python on the default base')
      .example('infra.operator rootfs create --lang nodejs --size 2048', 'a larger image')
      .example('infra.operator rootfs create --lang python --packages "numpy,pandas"', 'with extra packages')
      .option('lang', { alias: 'l', type: 'string', demandOption: true, describe: 'Language runtime' })
      .option('base', { alias: 'b', type: 'string', default: 'alpine', describe: 'Base OS' })
      .option('packages', { alias: 'p', type: 'string', describe: 'Additional packages, comma-separated' })
      .option('output', { alias: 'o', type: 'string', describe: 'Output path (default /srv/firecracker/images/rootfs-{lang}.ext4)' })
      .option('size', { alias: 's', type: 'number', default: 1024, describe: 'Image size in MB' }),
  handler: () => notYet('create', 'planned: rootless apk/deb package installs'),
};

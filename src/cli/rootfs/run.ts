import type { CommandModule } from 'yargs';
import { notYet } from './pending.js';

export const runCommand: CommandModule = {
  command: 'run <image>',
  describe: 'Boot a rootfs image locally and run one job through its guest runner',
  builder: (y) => y.positional('image', { type: 'string', describe: 'Name or path', demandOption: true }),
  handler: () => notYet('run', 'the bootable rootfs issue'),
};

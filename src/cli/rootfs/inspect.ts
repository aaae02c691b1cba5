import type { CommandModule } from 'yargs';
import { notYet } from './pending.js';

export const inspectCommand: CommandModule = {
  command: 'inspect <image>',
  describe: 'Show what a rootfs image holds, without mounting it',
  builder: (y) => y.positional('image', { type: 'string', describe: 'Name or path', demandOption: true }),
  handler: () => notYet('inspect', 'the S3 and local store issue'),
};

import type { CommandModule } from 'yargs';
import { notYet } from './pending.js';

export const downloadCommand: CommandModule = {
  command: 'download',
  describe: 'Download a rootfs image from S3',
  builder: (y) =>
    y
      .option('lang', { alias: 'l', type: 'string', demandOption: true, describe: 'Language to download' })
      .option('bucket', { alias: 'b', type: 'string', default: 's3://runner-codes', describe: 'S3 bucket' })
      .option('output', { alias: 'o', type: 'string', describe: 'Output path (default: the images directory)' }),
  handler: () => notYet('download', 'the S3 and local store issue'),
};

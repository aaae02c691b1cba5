import type { CommandModule } from 'yargs';
import { notYet } from './pending.js';

export const uploadCommand: CommandModule = {
  command: 'upload',
  describe: 'Upload a rootfs image to S3',
  builder: (y) =>
    y
      .option('lang', { alias: 'l', type: 'string', demandOption: true, describe: 'Language to upload' })
      .option('bucket', { alias: 'b', type: 'string', default: 's3://runner-codes', describe: 'S3 bucket' }),
  handler: () => notYet('upload', 'the S3 and local store issue'),
};

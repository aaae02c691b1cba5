import type { CommandModule } from 'yargs';
import { notYet } from './pending.js';

export const listCommand: CommandModule = {
  command: 'list',
  describe: 'List rootfs images (local, or in S3 with --remote)',
  builder: (y) =>
    y
      .option('remote', { alias: 'r', type: 'boolean', default: false, describe: 'List images from S3' })
      .option('bucket', { alias: 'b', type: 'string', default: 's3://runner-codes', describe: 'S3 bucket (with --remote)' })
      .option('images-dir', { type: 'string', describe: 'Local images directory' })
      .option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
  handler: () => notYet('list', 'the S3 and local store issue'),
};

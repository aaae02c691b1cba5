import type { CommandModule } from 'yargs';
import { fromDockerCommand } from './from-docker.js';
import { createCommand } from './create.js';
import { listCommand } from './list.js';
import { uploadCommand } from './upload.js';
import { downloadCommand } from './download.js';

export const rootfsCommand: CommandModule = {
  command: 'rootfs <command>',
  describe: 'Create, list, upload and download rootfs images',
  builder: (y) =>
    y
      .command(fromDockerCommand)
      .command(createCommand)
      .command(listCommand)
      .command(uploadCommand)
      .command(downloadCommand)
      .demandCommand(1, 'Name a rootfs command: from-docker, create, list, upload, download'),
  handler: () => {},
};

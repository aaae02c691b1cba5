import type { CommandModule } from 'yargs';
import { interruptibleCommand } from '../interrupt.js';
import { fromDockerCommand } from './from-docker.js';
import { createCommand } from './create.js';
import { listCommand } from './list.js';
import { uploadCommand } from './upload.js';
import { downloadCommand } from './download.js';
import { inspectCommand } from './inspect.js';
import { runCommand } from './run.js';

/** The rootfs commands, in the order of the spec. */
export const ROOTFS_COMMANDS: readonly string[] = ['from-docker', 'create', 'list', 'upload', 'download', 'inspect', 'run'];

export const rootfsCommand: CommandModule = {
  command: 'rootfs <command>',
  describe: 'Create, list, upload and download rootfs images',
  builder: (y) =>
    y
      // SIGINT and SIGTERM remove what the writing commands created (rootfs run stops its VM itself).
      .command(interruptibleCommand(fromDockerCommand))
      .command(interruptibleCommand(createCommand))
      .command(listCommand)
      .command(uploadCommand)
      .command(interruptibleCommand(downloadCommand))
      .command(inspectCommand)
      .command(runCommand)
      .demandCommand(1, `Name a rootfs command: ${ROOTFS_COMMANDS.join(', ')}`)
      .strict(),
  handler: () => {},
};

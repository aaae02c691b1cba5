/** The command line: a thin yargs layer over the library API. */
import yargs from 'yargs';
import { EXIT, InfraError } from '../errors.js';
import { rootfsCommand } from './rootfs/index.js';
import { VERSION } from '../version.js';

/** Runs the CLI and returns the exit code (0 ok, 1 failed, 2 usage, 3 VM unavailable). */
export async function main(argv: string[]): Promise<number> {
  let usageError: string | undefined;
  const parser = yargs(argv)
    .scriptName('infra.operator')
    .usage('$0 <command>\n\nBuild, list and ship ext4 root filesystems for Firecracker microVMs, without Docker or root.')
    .command(rootfsCommand)
    .demandCommand(1, 'Name a command: rootfs')
    .strict()
    .version(VERSION)
    .help()
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      usageError = msg;
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    return report(err);
  }
  if (usageError !== undefined) {
    process.stderr.write(`Error: ${usageError}\nRun 'infra.operator ${argv[0] ?? ''} --help' for usage.\n`);
    return EXIT.USAGE;
  }
  return Number(process.exitCode ?? EXIT.OK);
}

function report(err: unknown): number {
  if (err instanceof InfraError) {
    process.stderr.write(`Error: ${err.message}\n`);
    if (process.env.INFRA_OPERATOR_DEBUG && err.cause) process.stderr.write(`${String((err.cause as Error).stack ?? err.cause)}\n`);
    return err.exitCode;
  }
  process.stderr.write(`Error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.FAILED;
}

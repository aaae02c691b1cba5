/** The command line: a thin yargs layer over the library API. */
import yargs from 'yargs';
import { EXIT, InfraError } from '../errors.js';
import { rootfsCommand } from './rootfs/index.js';
import { VERSION } from '../version.js';

/** Runs the CLI and returns the exit code (0 ok, 1 failed, 2 usage, 3 VM unavailable). */
export async function main(argv: string[]): Promise<number> {
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
    // Throwing (rather than returning) keeps yargs from running the handler anyway.
    .fail((msg, err) => {
      if (err) throw err;
      const command = argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ');
      throw new InfraError('USAGE', `${msg}\nRun 'infra.operator ${command} --help' for usage.`);
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    return report(err);
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

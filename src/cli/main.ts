/** The command line: a thin yargs layer over the library API. */
import yargs from 'yargs';
import { EXIT, InfraError } from '../errors.js';
import { escapeControls } from './escape.js';
import { ROOTFS_COMMANDS, rootfsCommand } from './rootfs/index.js';
import { nearest } from './suggest.js';
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
      // yargs re-throws a coerce function's error as a YError, keeping only its message: a usage error.
      if (err) throw err.name === 'YError' ? new InfraError('USAGE', err.message) : err;
      throw new InfraError('USAGE', `${msg}\nRun '${['infra.operator', ...knownCommand(argv), '--help'].join(' ')}' for usage.`);
    });
  try {
    checkCommandWords(argv);
    await parser.parseAsync();
  } catch (err) {
    return report(err);
  }
  return Number(process.exitCode ?? EXIT.OK);
}

/** The leading words of `argv` that name real commands (`rootfs`, `rootfs list`). */
function knownCommand(argv: string[]): string[] {
  const [group, command] = argv.filter((a) => !a.startsWith('-'));
  if (group !== 'rootfs') return [];
  return command !== undefined && ROOTFS_COMMANDS.includes(command) ? [group, command] : [group];
}

/** Refuses a mistyped or ungrouped command word with the command the user most likely meant. */
function checkCommandWords(argv: string[]): void {
  const [first, second] = argv;
  if (first === undefined || first.startsWith('-')) return;
  if (first !== 'rootfs') {
    const meant = ROOTFS_COMMANDS.includes(first) ? first : nearest(first, ROOTFS_COMMANDS);
    const hint = meant
      ? `'${meant}' is a rootfs command: run 'infra.operator rootfs ${meant} ...' (see 'infra.operator rootfs --help').`
      : nearest(first, ['rootfs'])
        ? "Did you mean 'rootfs'? Run 'infra.operator rootfs --help' for its commands."
        : "Run 'infra.operator --help' for the commands.";
    throw new InfraError('USAGE', `Unknown command '${first}'. ${hint}`);
  }
  if (second === undefined) throw new InfraError('USAGE', `Name a rootfs command: ${ROOTFS_COMMANDS.join(', ')}.\nRun 'infra.operator rootfs --help' for usage.`);
  if (second.startsWith('-') || ROOTFS_COMMANDS.includes(second)) return;
  const meant = nearest(second, ROOTFS_COMMANDS);
  throw new InfraError(
    'USAGE',
    `Unknown rootfs command '${second}'.${meant ? ` Did you mean '${meant}'?` : ''} The commands: ${ROOTFS_COMMANDS.join(', ')}; run 'infra.operator rootfs --help' for usage.`,
  );
}

/** Messages quote names from layers and registries; their own line breaks stay. */
function escapeLines(message: string): string {
  return message.split('\n').map(escapeControls).join('\n');
}

/** `imagesDir` → `--images-dir`: library option names as the command line spells them. */
export function flagOf(option: string): string {
  return FLAG_NAMES[option] ?? `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Library options whose flag is not their kebab-case name (the seed's host command says --mem). */
const FLAG_NAMES: Record<string, string> = { memoryMb: '--mem' };

function report(err: unknown): number {
  if (err instanceof InfraError) {
    process.stderr.write(`Error: ${escapeLines(err.render(flagOf))}\n`);
    if (process.env.INFRA_OPERATOR_DEBUG && err.cause) process.stderr.write(`${String((err.cause as Error).stack ?? err.cause)}\n`);
    return err.exitCode;
  }
  process.stderr.write(`Error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.FAILED;
}

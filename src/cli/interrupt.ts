/**
 * SIGINT and SIGTERM during a command: the one signal path of the CLI. The temporary files
 * this process created are removed (src/io/temp.ts), one line on stderr says so, and the
 * exit status is 128 + the signal's number (130, 143), as shells report it.
 */
import { constants } from 'node:os';
import type { CommandModule } from 'yargs';
import { removeOwnTemporaries } from '../io/temp.js';

type StopSignal = 'SIGINT' | 'SIGTERM';
const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM'];

export interface InterruptOptions {
  /**
   * The work stops itself when its AbortSignal fires (rootfs run kills QEMU and removes its
   * files) and is waited for, however many signals come: exiting first would leave QEMU,
   * in a process group of its own, running. Otherwise the first signal stops at once:
   * every file the work was writing is a registered temporary.
   */
  windsDown?: boolean;
  /** What the line says after "Interrupted by SIGINT: ". */
  outcome?: string;
}

const FILES_REMOVED = 'the files it was writing were removed';

/** Runs a command's work with SIGINT and SIGTERM turned into a clean stop. */
export async function interruptible(work: (signal: AbortSignal) => Promise<void>, options: InterruptOptions = {}): Promise<void> {
  const outcome = options.outcome ?? FILES_REMOVED;
  const controller = new AbortController();
  let received: StopSignal | undefined;
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = () => {
      if (!options.windsDown) stopNow(signal, outcome);
      received ??= signal;
      controller.abort(new Error(`interrupted by ${signal}`));
    };
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  try {
    await work(controller.signal);
  } catch (err) {
    if (received === undefined) throw err;
    removeOwnTemporaries();
    say(received, outcome);
    process.exitCode = exitCode(received);
  } finally {
    for (const release of handlers) release();
  }
}

/** `command`, its handler run by `interruptible` (for commands whose files are all temporaries until done). */
export function interruptibleCommand<T>(command: CommandModule<object, T>): CommandModule<object, T> {
  const handler = command.handler;
  return {
    ...command,
    handler: (args) =>
      interruptible(async () => {
        await handler(args);
      }),
  };
}

/** From inside a signal handler: everything synchronous, then exit. */
function stopNow(signal: StopSignal, outcome: string): never {
  removeOwnTemporaries();
  say(signal, outcome);
  process.exit(exitCode(signal));
}

function say(signal: StopSignal, outcome: string): void {
  // A progress line may be half drawn on a terminal: start on a clean line.
  process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}Interrupted by ${signal}: ${outcome}.\n`);
}

function exitCode(signal: StopSignal): number {
  return 128 + constants.signals[signal];
}

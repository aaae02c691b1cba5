/**
 * Running the built CLI (`node bin/infra.operator.js …`, after `npx tsc -p .`) as a child
 * process: the one place tests start it.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { CLI } from './env.js';

export interface CliOptions {
  /** The child's whole environment (default: the test's). NODE_OPTIONS is always dropped. */
  env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long; default 120 s. */
  timeoutMs?: number;
  /** Run as this user (`runuser -u`; the test runs as root). */
  asUser?: string;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/** The command line and environment for `args`: tap's NODE_OPTIONS hooks multiply the CLI's start-up time. */
function command(args: string[], options: CliOptions): { file: string; argv: string[]; env: NodeJS.ProcessEnv } {
  const { NODE_OPTIONS: _, ...env } = options.env ?? process.env;
  const node = [process.execPath, CLI, ...args];
  const argv = options.asUser ? ['runuser', '-u', options.asUser, '--', ...node] : node;
  return { file: argv[0]!, argv: argv.slice(1), env };
}

/** Runs the CLI to the end; its output as text. */
export function cli(args: string[], options: CliOptions = {}): CliResult {
  const { file, argv, env } = command(args, options);
  const r = spawnSync(file, argv, { env, encoding: 'utf8', timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI to the end; its stdout as bytes (for `inspect --cat`). */
export function cliBytes(args: string[], options: CliOptions = {}): { status: number | null; stdout: Buffer } {
  const { file, argv, env } = command(args, options);
  const r = spawnSync(file, argv, { env, timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout };
}

/** Starts the CLI and returns at once, for tests that act while it runs (kill a server, a VM). */
export function spawnCli(args: string[], options: CliOptions = {}): ChildProcessByStdio<null, Readable, Readable> {
  const { file, argv, env } = command(args, options);
  return spawn(file, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the CLI to the end without blocking the test's event loop (long runs: boots). */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawnCli(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Real ext4 images for the store tests, made by e2fsprogs (a writer independent of ours). */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI, which } from '../helpers/env.js';

export const MIB = 1024 * 1024;

/** Files to put in the image: path inside → content (a Buffer or text), or `{ symlink }`. */
export type TreeSpec = Record<string, Buffer | string | { symlink: string }>;

/**
 * A sparse ext4 image of `sizeMiB` holding `files`: `truncate` + `mke2fs -t ext4 -d`, so it
 * is mostly holes. `scratch` holds the source tree.
 */
export function makeExt4(path: string, sizeMiB: number, files: TreeSpec, scratch: string): void {
  const root = join(scratch, `tree-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(root, { recursive: true });
  for (const [inside, content] of Object.entries(files)) {
    const target = join(root, inside);
    mkdirSync(dirname(target), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content)) execFileSync('ln', ['-s', content.symlink, target]);
    else writeFileSync(target, content);
  }
  execFileSync('truncate', ['-s', `${sizeMiB}M`, path]);
  execFileSync(which('mke2fs') ?? 'mke2fs', ['-q', '-t', 'ext4', '-F', '-L', 'testvol', '-d', root, path], { stdio: 'pipe' });
}

export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI (`node bin/infra.operator.js …`) as a child process, without tap's
 * NODE_OPTIONS hooks (they multiply its start-up time).
 */
export function cli(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): CliResult {
  const { NODE_OPTIONS: _, ...plain } = env;
  const r = spawnSync(process.execPath, [CLI, ...args], { env: plain, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI's stdout as bytes (for --cat). */
export function cliBytes(args: string[]): { status: number | null; stdout: Buffer } {
  const { NODE_OPTIONS: _, ...plain } = process.env;
  const r = spawnSync(process.execPath, [CLI, ...args], { env: plain, timeout: 120_000, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout };
}

/** `dumpe2fs -h` as a map of its `Name: value` lines. */
export function dumpe2fs(image: string): Map<string, string> {
  const out = execFileSync(which('dumpe2fs') ?? 'dumpe2fs', ['-h', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const fields = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) fields.set(m[1].trim(), m[2].trim());
  }
  return fields;
}

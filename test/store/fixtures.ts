/** What the store tests check images with: an independent sha256 and `dumpe2fs`. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { which } from '../helpers/env.js';

export { compositeSha256Of } from '../helpers/composite.js';

export const MIB = 1024 * 1024;

export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
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

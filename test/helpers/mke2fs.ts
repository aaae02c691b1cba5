/** Reference ext4 images made by e2fsprogs (`mke2fs -d`): a writer independent of ours. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { which } from './env.js';

/** Files to put in an image: path inside → content (a Buffer or text), or `{ symlink }`. */
export type TreeSpec = Record<string, Buffer | string | { symlink: string }>;

/**
 * An ext4 image of `sizeMiB` holding the directory `dir`: `truncate` + `mke2fs -t ext4 -d`,
 * so it is mostly holes.
 */
export function makeExt4(image: string, sizeMiB: number, dir: string, label = 'rootfs'): void {
  execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
  execFileSync(which('mke2fs') ?? 'mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label, '-d', dir, image], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 180_000,
  });
}

/** A new directory under `scratch` holding `files`. */
export function specTree(files: TreeSpec, scratch: string): string {
  const root = mkdtempSync(join(scratch, 'tree-'));
  for (const [inside, content] of Object.entries(files)) {
    const target = join(root, inside);
    mkdirSync(dirname(target), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content)) execFileSync('ln', ['-s', content.symlink, target]);
    else writeFileSync(target, content);
  }
  return root;
}

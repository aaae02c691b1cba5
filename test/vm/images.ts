/** Small ext4 images for `rootfs run` tests that need no boot. */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { which } from '../helpers/env.js';

/** An 8 MiB ext4 (mke2fs -d) holding only /bin/sh: a copy of this host's, so of its architecture. */
export function shellImage(dir: string, name: string): string {
  const root = mkdtempSync(join(dir, 'root-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(realpathSync('/bin/sh'), join(root, 'bin/sh'));
  const image = join(dir, name);
  execFileSync(which('mke2fs') ?? 'mke2fs', ['-q', '-F', '-t', 'ext4', '-d', root, image, '8M'], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
  return image;
}

/**
 * Blobs by digest on disk (`DIR/blobs/sha256/HEX`, the OCI layout's naming). Entries
 * appear atomically (written to `DIR/tmp/`, verified, renamed), so a crash never leaves a
 * partial blob under its digest; an entry whose size or digest is wrong is dropped on
 * lookup and fetched again (crane #1119: a damaged entry must not abort every pull).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fsError } from '../io/fs-errors.js';
import { digestHex } from './digest.js';
import { fileRangeDigest } from './layer.js';
import type { Descriptor } from './media.js';

export function defaultCacheDir(): string {
  if (process.env.INFRA_OPERATOR_CACHE_DIR) return process.env.INFRA_OPERATOR_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'infra.operator');
}

export class BlobCache {
  constructor(readonly root: string) {}

  path(digest: string): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  /** The entry's path if present and intact; a damaged entry is removed. */
  async lookup(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<string | undefined> {
    const path = this.path(descriptor.digest);
    const info = await stat(path).catch(() => undefined);
    if (!info) return undefined;
    if (info.size === descriptor.size && (await fileRangeDigest(path, 0, info.size)) === descriptor.digest) return path;
    await rm(path, { force: true });
    return undefined;
  }

  /**
   * Stores a blob: `fill` writes the temporary file it is given and must throw unless the
   * bytes are verified; only then does the entry appear under its digest.
   */
  async store(descriptor: Pick<Descriptor, 'digest'>, fill: (tempFile: string) => Promise<void>): Promise<string> {
    const tempDir = join(this.root, 'tmp');
    const finalPath = this.path(descriptor.digest);
    try {
      await mkdir(tempDir, { recursive: true });
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    } catch (err) {
      throw fsError(err, { path: this.root, what: 'the blob cache in', action: 'create', option: 'noCache', advice: { other: 'set INFRA_OPERATOR_CACHE_DIR to a writable directory or use {noCache}' } });
    }
    const temp = join(tempDir, `${digestHex(descriptor.digest)}.${randomBytes(6).toString('hex')}`);
    try {
      await fill(temp);
      await rename(temp, finalPath);
      return finalPath;
    } finally {
      await rm(temp, { force: true });
    }
  }
}

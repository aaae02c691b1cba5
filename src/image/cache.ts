/**
 * Blobs by digest on disk (`DIR/blobs/sha256/HEX`, the OCI layout's naming). Entries
 * appear atomically (written to an exclusive temporary file in `DIR/tmp/` (src/io/temp.ts),
 * verified, renamed), so a crash never leaves a partial blob under its digest; an entry
 * whose size or digest is wrong is dropped on lookup and fetched again (crane #1119: a damaged entry must not abort every pull).
 */
import { mkdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fsError } from '../io/fs-errors.js';
import { sweepStaleTemporaries, TemporaryFile } from '../io/temp.js';
import { digestHex } from './digest.js';
import { fileRangeDigest } from './layer.js';
import type { Descriptor } from './media.js';

export function defaultCacheDir(): string {
  if (process.env.INFRA_OPERATOR_CACHE_DIR) return process.env.INFRA_OPERATOR_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'infra.operator');
}

export class BlobCache {
  /** Set once `tmp/` exists and was swept of dead processes' temporaries. */
  private ready: Promise<void> | undefined;

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
   * Stores a blob: `fill` writes the temporary file it is given (from offset 0) and must
   * throw unless the bytes are verified; only then does the entry appear under its digest.
   */
  async store(descriptor: Pick<Descriptor, 'digest'>, fill: (tempFile: FileHandle) => Promise<void>): Promise<string> {
    const tempDir = join(this.root, 'tmp');
    const finalPath = this.path(descriptor.digest);
    let temp: TemporaryFile;
    try {
      await (this.ready ??= this.prepare(tempDir));
      temp = await TemporaryFile.create(finalPath, { dir: tempDir });
    } catch (err) {
      this.ready = undefined;
      throw fsError(err, { path: this.root, what: 'the blob cache in', action: 'create', option: 'noCache', advice: { other: 'set INFRA_OPERATOR_CACHE_DIR to a writable directory or use {noCache}' } });
    }
    try {
      await fill(temp.handle);
      await temp.commit();
      return finalPath;
    } finally {
      await temp.discard();
    }
  }

  private async prepare(tempDir: string): Promise<void> {
    await mkdir(tempDir, { recursive: true });
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    await sweepStaleTemporaries(tempDir);
  }
}

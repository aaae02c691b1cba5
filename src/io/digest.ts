/**
 * Streaming sha256, the one implementation: of bytes passing through a stream, and of a
 * file or a byte range of one (holes of a sparse file read as zeros, as S3 and registries
 * store them). Digests are `sha256:<hex>` (image-spec descriptor.md "Digests").
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { InfraError } from '../errors.js';
import { fsError } from './fs-errors.js';

/**
 * One reused buffer and synchronous reads (hashing is the cost, not thread-pool round
 * trips), with a turn of the event loop between chunks so transfers in flight keep going.
 */
const FILE_CHUNK = 4 * 1024 * 1024;

/** Counts and hashes bytes that pass through it. */
export class DigestCounter {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  /** `sha256:<hex>`; ends the hash (call once). */
  digest(): string {
    return `sha256:${this.hex()}`;
  }

  /** The bare hex digest; ends the hash (call once). */
  hex(): string {
    return this.hash.digest('hex');
  }
}

/** `sha256:<hex>` and the byte count of everything that passed through. */
export type DigestCallback = (digest: string, size: number) => void;

/**
 * Passes `source` through unchanged while hashing it; when the source ends, calls
 * `onDone` with the digest and size before reporting the end. A throw from `onDone`
 * (a digest mismatch) therefore fails whoever is reading, at the end of the data.
 */
export async function* digesting(source: AsyncIterable<Buffer>, onDone: DigestCallback): AsyncGenerator<Buffer> {
  const counter = new DigestCounter();
  for await (const chunk of source) {
    counter.update(chunk);
    yield chunk;
  }
  onDone(counter.digest(), counter.bytes);
}

export interface FileRange {
  offset: number;
  size: number;
}

/**
 * The sha256 of `file` (or of `range` of it, which must lie within the file), counted and
 * hashed. `code` is the error code when it cannot be read: `INPUT` for files the user
 * gave, `DISK` for the tool's own.
 */
export async function digestFile(file: string, range?: FileRange, code: 'DISK' | 'INPUT' = 'DISK'): Promise<DigestCounter> {
  const counter = new DigestCounter();
  const buffer = Buffer.allocUnsafe(range ? Math.min(FILE_CHUNK, range.size) : FILE_CHUNK);
  const end = range ? range.offset + range.size : Number.POSITIVE_INFINITY;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    for (let position = range?.offset ?? 0; position < end; ) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
      if (n === 0) break;
      counter.update(n === buffer.length ? buffer : buffer.subarray(0, n));
      position += n;
      await nextTurn();
    }
  } catch (err) {
    throw fsError(err, { path: file, action: 'read', code });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (range && counter.bytes !== range.size) {
    throw new InfraError(code, `${file} ended after ${counter.bytes} of ${range.size} bytes: it changed or is truncated`);
  }
  return counter;
}

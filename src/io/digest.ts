/**
 * Streaming sha256, the one implementation: of bytes passing through a stream, and of a
 * file or a byte range of one (holes of a sparse file read as zeros, as S3 and registries
 * store them), plain or chunked. Digests are `sha256:<hex>` (image-spec descriptor.md
 * "Digests").
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { InfraError } from '../errors.js';
import { fsError } from './fs-errors.js';
import { ThreadSha256 } from './hash-thread.js';
import { isZero } from './zero.js';

/**
 * One reused buffer and synchronous reads (hashing is the cost, not thread-pool round
 * trips), with a turn of the event loop between chunks so transfers in flight keep going.
 */
const FILE_CHUNK = 4 * 1024 * 1024;

/** Counts and hashes (on the hashing thread) bytes that pass through it. */
export class DigestCounter {
  private readonly hash = new ThreadSha256();
  bytes = 0;

  update(chunk: Buffer): Promise<void> {
    this.bytes += chunk.length;
    return this.hash.update(chunk);
  }

  /** `sha256:<hex>`; ends the hash (call once). */
  async digest(): Promise<string> {
    return `sha256:${await this.hex()}`;
  }

  /** The bare hex digest; ends the hash (call once). */
  async hex(): Promise<string> {
    return (await this.hash.digest()).toString('hex');
  }

  /** Ends the hash unused (the bytes are hashed again from the start elsewhere). */
  drop(): void {
    this.hash.drop();
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
    await counter.update(chunk);
    yield chunk;
  }
  onDone(await counter.digest(), counter.bytes);
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
  const read = await readPieces(file, range ? Math.min(FILE_CHUNK, range.size) : FILE_CHUNK, range, code, (piece) => counter.update(piece));
  if (range && read !== range.size) {
    throw new InfraError(code, `${file} ended after ${read} of ${range.size} bytes: it changed or is truncated`);
  }
  return counter;
}

/**
 * Reads `file` (or `range` of it) in pieces of `pieceBytes` into one reused buffer, with
 * synchronous reads and a turn of the event loop between pieces; the bytes read.
 */
async function readPieces(file: string, pieceBytes: number, range: FileRange | undefined, code: 'DISK' | 'INPUT', onPiece: (piece: Buffer) => void | Promise<void>): Promise<number> {
  const buffer = Buffer.allocUnsafe(pieceBytes);
  const start = range?.offset ?? 0;
  const end = range ? range.offset + range.size : Number.POSITIVE_INFINITY;
  let position = start;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    while (position < end) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
      if (n === 0) break;
      // The piece is consumed (hashed or copied to the hashing thread) before the buffer is reused.
      await onPiece(n === buffer.length ? buffer : buffer.subarray(0, n));
      position += n;
      await nextTurn();
    }
  } catch (err) {
    throw fsError(err, { path: file, action: 'read', code });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return position - start;
}

/**
 * The chunk of the chunked sha256, and the part size of S3 multipart uploads
 * (src/store/s3/upload.ts): with equal sizes the chunked sha256 is S3's composite
 * SHA-256 checksum of the uploaded object.
 */
export const DIGEST_CHUNK_BYTES = 16 * 1024 * 1024;

/** sha256 of DIGEST_CHUNK_BYTES zero bytes (`head -c 16777216 /dev/zero | sha256sum`). */
const ZERO_CHUNK_SHA256 = Buffer.from('080acf35a507ac9849cfcba47dc2ad83e01b75663a516279c8b9d243b719643e', 'hex');

const ZEROS = Buffer.alloc(FILE_CHUNK);

/**
 * The chunked sha256 of a file: the file cut into DIGEST_CHUNK_BYTES chunks (the last one
 * shorter), the sha256 of each, then the sha256 of their binary digests concatenated. It is
 * S3's composite checksum of a multipart upload in DIGEST_CHUNK_BYTES parts ("Checking
 * object integrity in Amazon S3", multipart uploads), whose notation is this value in
 * base64 followed by `-N` for N parts.
 */
export interface ChunkedDigest {
  /** The final value, in hex. */
  sha256: string;
  /** Chunks in the file: ceil(size / DIGEST_CHUNK_BYTES). */
  chunks: number;
  /** Chunks that were hashed; each of the others was all zeros, its digest a constant. */
  hashedChunks: number;
}

/** Computes a ChunkedDigest from the file's bytes, given in order; zero chunks are not hashed. */
export class ChunkedDigester {
  private readonly digests: Buffer[] = [];
  private hashedChunks = 0;
  /** The chunk being read: its bytes so far, and its hash once a non-zero byte came. */
  private chunkBytes = 0;
  private chunkHash: Hash | undefined;

  update(data: Buffer): void {
    for (let offset = 0; offset < data.length; ) {
      const n = Math.min(data.length - offset, DIGEST_CHUNK_BYTES - this.chunkBytes);
      this.addToChunk(data.subarray(offset, offset + n));
      offset += n;
      if (this.chunkBytes === DIGEST_CHUNK_BYTES) this.endChunk();
    }
  }

  /** Ends the digest (call once). */
  digest(): ChunkedDigest {
    if (this.chunkBytes > 0) this.endChunk();
    return {
      sha256: createHash('sha256').update(Buffer.concat(this.digests)).digest('hex'),
      chunks: this.digests.length,
      hashedChunks: this.hashedChunks,
    };
  }

  private addToChunk(piece: Buffer): void {
    // Leading zeros are only counted: the chunk is hashed from its first non-zero piece on.
    if (this.chunkHash === undefined && !isZero(piece)) this.chunkHash = this.hashZeros(this.chunkBytes);
    this.chunkHash?.update(piece);
    this.chunkBytes += piece.length;
  }

  private endChunk(): void {
    // A short last chunk of zeros has no constant: hash it.
    if (this.chunkHash === undefined && this.chunkBytes < DIGEST_CHUNK_BYTES) this.chunkHash = this.hashZeros(this.chunkBytes);
    this.digests.push(this.chunkHash ? this.chunkHash.digest() : ZERO_CHUNK_SHA256);
    if (this.chunkHash) this.hashedChunks++;
    this.chunkHash = undefined;
    this.chunkBytes = 0;
  }

  private hashZeros(count: number): Hash {
    return updateZeros(createHash('sha256'), count);
  }
}

/** Feeds `count` zero bytes to `hash`; returns it. */
function updateZeros(hash: Hash, count: number): Hash {
  for (let left = count; left > 0; left -= ZEROS.length) hash.update(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
  return hash;
}

/** A chunk hashed from the writes into it: their bytes and the gaps before them, in order. */
interface WrittenChunk {
  hash: ThreadSha256;
  /** Offset in the chunk up to which the hash has taken bytes. */
  end: number;
}

/**
 * The chunked sha256 of a file being written at any positions into an empty file,
 * computed from the writes themselves so that the file is not read back: each chunk is
 * hashed as its bytes are written, gaps between writes as zeros (holes), and a chunk never
 * written is the zero-chunk constant. A chunk written out of order (backwards, or over
 * bytes already written) cannot be hashed on the fly: it is read back from the file at
 * the end, once its bytes are final. The value is that of chunkedDigestFile. Hashing
 * happens on the hashing thread (hash-thread.ts), beside the writing.
 */
export class WrittenFileDigest {
  /** Chunks written so far: hashed in order, or `undefined` once they must be read back. */
  private readonly chunks = new Map<number, WrittenChunk | undefined>();

  /** Takes `data` written at byte `position` (await it for every write before its buffer is reused). */
  async written(position: number, data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; ) {
      const at = position + offset;
      const index = Math.floor(at / DIGEST_CHUNK_BYTES);
      const within = at - index * DIGEST_CHUNK_BYTES;
      const n = Math.min(data.length - offset, DIGEST_CHUNK_BYTES - within);
      await this.place(index, within, data.subarray(offset, offset + n));
      offset += n;
    }
  }

  /**
   * The digest of `file` once `byteLength` is its final length and every write is done;
   * chunks written out of order are read from it (`readBackChunks` of them). Call once.
   */
  async digest(file: string, byteLength: number): Promise<ChunkedDigest & { readBackChunks: number }> {
    const count = Math.ceil(byteLength / DIGEST_CHUNK_BYTES);
    const digests: Buffer[] = [];
    let hashedChunks = 0;
    let readBackChunks = 0;
    for (let index = 0; index < count; index++) {
      const size = Math.min(DIGEST_CHUNK_BYTES, byteLength - index * DIGEST_CHUNK_BYTES);
      if (!this.chunks.has(index) && size === DIGEST_CHUNK_BYTES) {
        digests.push(ZERO_CHUNK_SHA256);
        continue;
      }
      // A short last chunk never written has no constant: hashed as zeros.
      if (!this.chunks.has(index)) this.chunks.set(index, { hash: new ThreadSha256(), end: 0 });
      const chunk = this.chunks.get(index);
      hashedChunks++;
      if (chunk === undefined || chunk.end > size) {
        // Written out of order, or past the final length (truncated away): read it back.
        chunk?.hash.drop();
        readBackChunks++;
        digests.push(Buffer.from(await (await digestFile(file, { offset: index * DIGEST_CHUNK_BYTES, size })).hex(), 'hex'));
        continue;
      }
      chunk.hash.updateZeros(size - chunk.end);
      digests.push(await chunk.hash.digest());
    }
    this.chunks.clear();
    return { sha256: createHash('sha256').update(Buffer.concat(digests)).digest('hex'), chunks: count, hashedChunks, readBackChunks };
  }

  private async place(index: number, within: number, piece: Buffer): Promise<void> {
    if (!this.chunks.has(index)) this.chunks.set(index, { hash: new ThreadSha256(), end: 0 });
    const chunk = this.chunks.get(index);
    if (chunk === undefined) return;
    if (within < chunk.end) {
      chunk.hash.drop();
      this.chunks.set(index, undefined);
      return;
    }
    chunk.hash.updateZeros(within - chunk.end);
    chunk.end = within + piece.length;
    await chunk.hash.update(piece);
  }
}

/** The chunked sha256 of `file` (holes read as zeros), reading it once. */
export async function chunkedDigestFile(file: string, code: 'DISK' | 'INPUT' = 'DISK'): Promise<ChunkedDigest> {
  const digester = new ChunkedDigester();
  await readPieces(file, FILE_CHUNK, undefined, code, (piece) => digester.update(piece));
  return digester.digest();
}

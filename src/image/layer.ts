/**
 * Layers whose blob is a byte range of a local file (a cache entry, an OCI layout blob, a
 * member of an archive). Every `open()` re-reads the file and verifies as it streams: the
 * blob's size and sha256, then the uncompressed bytes against the DiffID.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { InfraError, isInfraError } from '../errors.js';
import { type Compression, decompress, detectCompression, MAGIC_BYTES } from './decompress.js';
import { digestFile } from '../io/digest.js';
import { fsError } from '../io/fs-errors.js';
import { verified } from './digest.js';
import type { ImageLayer } from './types.js';

export interface FileLayerSpec {
  /** Position in the image, bottom first (for messages). */
  index: number;
  digest: string;
  size: number;
  mediaType: string;
  diffId?: string;
  file: string;
  /** Where the blob starts in `file` (archives); 0 otherwise. */
  offset?: number;
  /**
   * The blob's digest was verified moments ago by this process (a cache entry just
   * fetched or looked up): reading it checks only its size, not its sha256 again.
   */
  blobVerified?: boolean;
}

const READ_CHUNK = 1 << 20;
/**
 * Buffers a recycling read cycles through (a chunk is reused only this many reads later):
 * a margin over the contract, which the poisoning test mode enforces exactly; each one
 * more is 1 MiB of resident memory.
 */
const RING_CHUNKS = 4;
/**
 * Test mode (INFRA_OPERATOR_POISON_RECYCLED=1): chunks of these sizes, cutting headers and
 * frames anywhere, each overwritten with POISON as soon as the next is asked for. A view
 * kept past its lifetime then reads garbage in every test, not after 4 MiB in production.
 */
const POISON_CHUNKS = [1, 509, 4096, 7, 65_537, 3, 1 << 20];
const POISON = 0xdb;

/** Whether recycled chunks are poisoned (tests set INFRA_OPERATOR_POISON_RECYCLED=1). */
function poisoning(): boolean {
  return process.env.INFRA_OPERATOR_POISON_RECYCLED === '1';
}

/**
 * `size` bytes of `file` from `offset`, streamed in 1 MiB chunks. Reads are synchronous on
 * purpose: a local read lands in the page cache, and a thread-pool round trip per chunk
 * costs more than the read on a busy machine.
 *
 * With `recycle`, chunk memory is reused (fresh memory costs a page fault per 4 KiB, which
 * on hundreds of MiB is slower than the reads themselves). The contract: a chunk is valid
 * until the consumer asks for the next one; a consumer copies what it keeps longer (the
 * byte reader's `read`, the ext4 writer's block buffer). Production reuses a chunk only 4
 * reads later; the poisoning test mode enforces the contract exactly.
 */
export async function* readFileRange(file: string, offset: number, size: number, recycle = false): AsyncIterable<Buffer> {
  if (size === 0) return;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw fsError(err, { path: file, action: 'read', code: 'INPUT' });
  }
  const poison = recycle && poisoning();
  const ring: Buffer[] = [];
  let handedOut: Buffer | undefined;
  try {
    for (let done = 0, turn = 0; done < size; turn++) {
      handedOut?.fill(POISON);
      const length = Math.min(poison ? POISON_CHUNKS[turn % POISON_CHUNKS.length] : READ_CHUNK, size - done);
      const chunk = recycle && !poison ? (ring[turn % RING_CHUNKS] ??= Buffer.allocUnsafe(READ_CHUNK)) : Buffer.allocUnsafe(length);
      const n = readSync(fd, chunk, 0, length, offset + done);
      if (n === 0) throw new InfraError('INPUT', `${file} ended after ${done} of ${size} bytes: it changed or is truncated`);
      done += n;
      if (poison) handedOut = chunk;
      yield n === chunk.length ? chunk : chunk.subarray(0, n);
    }
  } finally {
    handedOut?.fill(POISON);
    closeSync(fd);
  }
}

/** The compression of the blob at `offset` of `file`, from its magic bytes. */
export async function blobCompression(file: string, offset = 0): Promise<Compression> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(MAGIC_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, offset);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

export function fileLayer(spec: FileLayerSpec): ImageLayer {
  const name = `layer ${spec.index + 1} (${spec.digest})`;
  const layer: ImageLayer = {
    digest: spec.digest,
    mediaType: spec.mediaType,
    size: spec.size,
    open: () => openVerified(spec, name),
  };
  if (spec.diffId !== undefined) layer.diffId = spec.diffId;
  return layer;
}

async function* openVerified(spec: FileLayerSpec, name: string): AsyncIterable<Buffer> {
  rejectForeignLayer(spec.mediaType, name);
  const bytes = readFileRange(spec.file, spec.offset ?? 0, spec.size, true);
  const blob = spec.blobVerified ? bytes : verified(bytes, spec, name);
  const tar = decompress(blob, spec.mediaType, name);
  try {
    if (spec.diffId === undefined) yield* tar;
    else yield* verified(tar, { digest: spec.diffId }, `${name}, uncompressed (DiffID ${spec.diffId})`);
  } catch (err) {
    // A damaged blob usually breaks the decompressor before its digest can be checked at
    // the end: name the real cause.
    if (isInfraError(err, 'TAR') && (await fileRangeDigest(spec.file, spec.offset ?? 0, spec.size)) !== spec.digest) {
      throw new InfraError('INTEGRITY', `${name} is damaged: its bytes do not match its digest. Pull the image again or rebuild it`, { cause: err, layer: spec.index + 1, digest: spec.digest });
    }
    // The message names the layer already; the fields say it for callers.
    throw isInfraError(err) && err.layer === undefined ? err.with({ layer: spec.index + 1, digest: spec.digest }) : err;
  }
}

/** The digest of the blob of `size` bytes at `offset` of `file` (a file the user gave). */
export async function fileRangeDigest(file: string, offset: number, size: number): Promise<string> {
  return (await digestFile(file, { offset, size }, 'INPUT')).digest();
}

/** Encrypted layers (ocicrypt) cannot be read without keys this tool does not take. */
function rejectForeignLayer(mediaType: string, name: string): void {
  if (mediaType.includes('+encrypted')) {
    throw new InfraError('LAYER', `${name} is encrypted (${mediaType}); decrypt the image first (e.g. skopeo copy --decryption-key)`);
  }
}

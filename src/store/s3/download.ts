/**
 * Downloads an image from S3: parallel ranged GETs written into a sparse temporary file
 * beside the target (all-zero 4 KiB blocks are skipped, the file is sized with ftruncate),
 * its digest verified, then renamed into place. On any failure nothing is left at the
 * target. The sidecar object is validated before anything is fetched: it comes from the
 * bucket, which this tool does not control.
 */
import { mkdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { InfraError } from '../../errors.js';
import { fsError, type FsErrorContext } from '../../io/fs-errors.js';
import { isZero } from '../../io/zero.js';
import {
  assertSidecarReplaceable,
  computeDigest,
  parseSidecar,
  sidecarDescribes,
  sidecarDigest,
  storeSidecar,
  type DigestKind,
  type ImageDigest,
  type Sidecar,
} from '../sidecar.js';
import { MAX_SIDECAR_BYTES } from '../sidecar-format.js';
import type { TransferEvent } from '../../events.js';
import { sweepStaleTemporaries, TemporaryFile } from '../../io/temp.js';
import type { S3Connection } from './client.js';
import { s3Error, type S3ErrorContext } from './errors.js';
import { rootfsKey, legacySidecarKey, sidecarKey, type BucketLocation } from './location.js';
import { assertBucketExists } from './upload.js';

/** The unit of sparseness: a block that is all zeros is not written (ext4's usual block size). */
const SPARSE_BLOCK = 4096;
/** A multiple of SPARSE_BLOCK, so every part starts on a block boundary. */
const PART_SIZE = 16 * 1024 * 1024;
const CONCURRENCY = 4;
/** Attempts per part when the body stream breaks (the SDK retries failed requests itself). */
const PART_ATTEMPTS = 3;
/** What to do when the download cannot be written where it goes. */
const WRITE_ADVICE: FsErrorContext['advice'] = { full: 'free space there or pass {output} elsewhere', other: 'pass {output} to a writable place' };

export interface DownloadRequest {
  s3: S3Connection;
  location: BucketLocation;
  name: string;
  outputPath: string;
  /** Bytes moved so far, and non-fatal notices (an unverifiable object…). */
  onEvent?: (event: TransferEvent) => void;
}

export interface DownloadResult {
  path: string;
  key: string;
  size: number;
  /** The digest of the file, checked against the expected one; absent when unverified. */
  digest?: ImageDigest;
  /** Where the expected digest came from; `unverified` when the object had none. */
  verifiedBy: 'metadata' | 'sidecar' | 'unverified';
  /** Path of the sidecar written beside the image, when the object had one. */
  sidecarPath?: string;
}

interface RemoteObject {
  size: number;
  etag?: string;
  /** From the object's user metadata (`x-amz-meta-chunked-sha256`, or `-sha256` of older uploads). */
  digest?: ImageDigest;
}

/** Metadata keys that hold a digest, the preferred first. */
const METADATA_DIGESTS: readonly DigestKind[] = ['chunked-sha256', 'sha256'];

export async function downloadRootfs(req: DownloadRequest): Promise<DownloadResult> {
  const key = rootfsKey(req.location, req.name);
  const ctx: S3ErrorContext = { operation: 'download', bucket: req.location.bucket, key, region: req.s3.region, ...(req.s3.endpoint ? { endpoint: req.s3.endpoint } : {}) };
  await assertSidecarReplaceable(req.outputPath);
  const object = await headObject(req, key, ctx);
  const sidecar = await fetchSidecar(req, ctx);
  const expected = expectedDigest(object, sidecar);
  if (!expected) req.onEvent?.({ type: 'warning', text: `s3://${req.location.bucket}/${key} has no digest metadata and no sidecar: the download cannot be verified.` });

  const temporary = await createTemporary(req.outputPath);
  try {
    await fetchSparse(req, key, object, temporary, ctx);
    const actual = expected ? await computeDigest(temporary.path, expected.digest.kind) : undefined;
    if (expected && actual?.hex !== expected.digest.hex) {
      throw new InfraError(
        'INTEGRITY',
        `s3://${req.location.bucket}/${key} has ${expected.digest.kind} ${actual?.hex}, but its ${expected.source} says ${expected.digest.hex}: the object is corrupt or was replaced. Nothing was written; upload the image again with 'infra.operator rootfs upload --lang ${req.name}'.`,
      );
    }
    await renameInto(temporary, req.outputPath);
    const sidecarPath = sidecar && actual && sidecarDigest(sidecar).hex === actual.hex ? await placeSidecar(req.outputPath, sidecar) : undefined;
    return {
      path: req.outputPath,
      key,
      size: object.size,
      ...(actual ? { digest: actual } : {}),
      verifiedBy: expected?.source ?? 'unverified',
      ...(sidecarPath ? { sidecarPath } : {}),
    };
  } finally {
    await temporary.discard();
  }
}

/**
 * The download's exclusive temporary file beside `target` (src/io/temp.ts), after removing
 * those that dead processes of this host left there.
 */
async function createTemporary(target: string): Promise<TemporaryFile> {
  try {
    // The images directory may not exist yet on a fresh host.
    await mkdir(dirname(target), { recursive: true });
    await sweepStaleTemporaries(dirname(target));
    return await TemporaryFile.create(target);
  } catch (err) {
    throw fsError(err, { path: dirname(target), what: 'the download in', action: 'create', advice: WRITE_ADVICE });
  }
}

async function headObject(req: DownloadRequest, key: string, ctx: S3ErrorContext): Promise<RemoteObject> {
  try {
    const head = await req.s3.client.send(new HeadObjectCommand({ Bucket: req.location.bucket, Key: key }));
    const kind = METADATA_DIGESTS.find((k) => /^[0-9a-f]{64}$/.test(head.Metadata?.[k] ?? ''));
    return {
      size: head.ContentLength ?? 0,
      ...(head.ETag ? { etag: head.ETag } : {}),
      ...(kind ? { digest: { kind, hex: head.Metadata![kind]! } } : {}),
    };
  } catch (err) {
    // A 404 on HEAD has no body: tell a missing bucket from a missing object.
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) await assertBucketExists(req.s3, ctx);
    throw s3Error(err, ctx);
  }
}

/**
 * The sidecar object beside the image (under its key, else the key used before sidecar
 * version 2), validated and naming the image asked for; undefined when there is none.
 */
async function fetchSidecar(req: DownloadRequest, ctx: S3ErrorContext): Promise<Sidecar | undefined> {
  for (const key of new Set([sidecarKey(req.location, req.name), legacySidecarKey(req.location, req.name)])) {
    const text = await fetchSmallObject(req, key, ctx);
    if (text === undefined) continue;
    const source = `s3://${req.location.bucket}/${key}`;
    const reupload = `upload the image again with 'infra.operator rootfs upload --lang ${req.name}'`;
    const sidecar = parseSidecar(text, source, reupload);
    if (sidecar.name !== req.name) {
      throw new InfraError('INTEGRITY', `${source} is the sidecar of '${sidecar.name}', not of '${req.name}': nothing was downloaded.`, { hint: reupload });
    }
    return sidecar;
  }
  return undefined;
}

/** An object of at most MAX_SIDECAR_BYTES as text, or undefined when there is none. */
async function fetchSmallObject(req: DownloadRequest, key: string, ctx: S3ErrorContext): Promise<string | undefined> {
  const tooLarge = () => new InfraError('INPUT', `s3://${req.location.bucket}/${key} is larger than any sidecar (${MAX_SIDECAR_BYTES} bytes at most): nothing was downloaded.`);
  try {
    const res = await req.s3.client.send(new GetObjectCommand({ Bucket: req.location.bucket, Key: key }));
    if ((res.ContentLength ?? 0) > MAX_SIDECAR_BYTES) throw tooLarge();
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of (res.Body ?? []) as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      if (bytes > MAX_SIDECAR_BYTES) throw tooLarge();
      chunks.push(Buffer.from(chunk));
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw s3Error(err, { ...ctx, key });
  }
}

function expectedDigest(object: RemoteObject, sidecar: Sidecar | undefined): { digest: ImageDigest; source: 'metadata' | 'sidecar' } | undefined {
  if (object.digest) return { digest: object.digest, source: 'metadata' };
  if (sidecar && sidecarDescribes(sidecar, object)) return { digest: sidecarDigest(sidecar), source: 'sidecar' };
  return undefined;
}

/** Fetches all parts, CONCURRENCY at a time, into a sparse file of the object's size. */
async function fetchSparse(req: DownloadRequest, key: string, object: RemoteObject, file: TemporaryFile, ctx: S3ErrorContext): Promise<void> {
  const fh = file.handle;
  try {
    await fh.truncate(object.size);
    let done = 0;
    const parts = Math.ceil(object.size / PART_SIZE);
    let next = 0;
    const worker = async () => {
      for (let part = next++; part < parts; part = next++) {
        const start = part * PART_SIZE;
        const end = Math.min(object.size, start + PART_SIZE);
        await fetchPart(req, key, object, fh, start, end, ctx);
        done += end - start;
        req.onEvent?.({ type: 'transfer', bytes: done, total: object.size });
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, parts) }, worker));
    await fh.sync();
  } catch (err) {
    if (err instanceof InfraError) throw err;
    if (isLocalFileError(err)) throw fsError(err, { path: file.path, action: 'write', advice: WRITE_ADVICE });
    throw s3Error(err, ctx);
  } finally {
    await file.close();
  }
}

/** One ranged GET into [start, end), retried from the start when its body breaks off. */
async function fetchPart(req: DownloadRequest, key: string, object: RemoteObject, fh: FileHandle, start: number, end: number, ctx: S3ErrorContext): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await req.s3.client.send(
        new GetObjectCommand({
          Bucket: req.location.bucket,
          Key: key,
          Range: `bytes=${start}-${end - 1}`,
          // Every part from the same object version, or a clear failure.
          ...(object.etag ? { IfMatch: object.etag } : {}),
        }),
      );
      if (!res.Body) throw new InfraError('S3', `S3 sent no body for bytes ${start}-${end - 1} of s3://${req.location.bucket}/${key}.`);
      const writer = new SparseWriter(fh, start);
      for await (const chunk of res.Body as AsyncIterable<Uint8Array>) await writer.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      await writer.end();
      if (writer.position !== end) {
        throw Object.assign(new Error(`body ended at byte ${writer.position}, expected ${end}`), { code: 'ECONNRESET' });
      }
      return;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412) {
        throw new InfraError('INTEGRITY', `s3://${req.location.bucket}/${key} changed during the download; run the command again.`, { cause: err });
      }
      // Local write failures are not the network's: no retry, reported as DISK by the caller.
      const retriable = !(err instanceof InfraError) && !isLocalFileError(err) && (status === undefined || status >= 500);
      if (!retriable || attempt >= PART_ATTEMPTS) throw err instanceof InfraError || isLocalFileError(err) ? err : s3Error(err, ctx);
    }
  }
}

/** Writes a byte range into a file, skipping all-zero SPARSE_BLOCKs (left as holes). */
class SparseWriter {
  private carry: Buffer = Buffer.alloc(0);

  constructor(
    private readonly fh: FileHandle,
    /** File offset of the next byte to be received (block-aligned at the start). */
    public position: number,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const whole = data.length - (data.length % SPARSE_BLOCK);
    await writeNonZeroBlocks(this.fh, data.subarray(0, whole), this.position - this.carry.length);
    this.position += chunk.length;
    // Copy the remainder so that the (possibly large) chunk is not retained.
    this.carry = Buffer.from(data.subarray(whole));
  }

  async end(): Promise<void> {
    await writeNonZeroBlocks(this.fh, this.carry, this.position - this.carry.length);
    this.carry = Buffer.alloc(0);
  }
}

/** Writes each run of consecutive non-zero blocks of `data` with one pwrite. */
async function writeNonZeroBlocks(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let runStart = -1;
  for (let offset = 0; offset < data.length; offset += SPARSE_BLOCK) {
    const zero = isZero(data, offset, Math.min(SPARSE_BLOCK, data.length - offset));
    if (!zero && runStart < 0) runStart = offset;
    if (zero && runStart >= 0) {
      await writeFully(fh, data.subarray(runStart, offset), position + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await writeFully(fh, data.subarray(runStart), position + runStart);
}

async function writeFully(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let written = 0; written < data.length; ) {
    const { bytesWritten } = await fh.write(data, written, data.length - written, position + written);
    written += bytesWritten;
  }
}

/** An error from the local file, not from S3 (socket errors carry other syscalls). */
function isLocalFileError(err: unknown): boolean {
  const syscall = (err as NodeJS.ErrnoException).syscall;
  return syscall === 'write' || syscall === 'ftruncate' || syscall === 'fsync';
}

async function renameInto(temporary: TemporaryFile, target: string): Promise<void> {
  try {
    const st = await stat(target).catch(() => undefined);
    if (st?.isDirectory()) throw new InfraError('USAGE', `${target} is a directory.`, { option: 'output', path: target, hint: 'pass a file path to {output}' });
    await temporary.commit();
  } catch (err) {
    if (err instanceof InfraError) throw err;
    throw fsError(err, { path: target, what: 'the download to', action: 'move', advice: WRITE_ADVICE });
  }
}

/** Writes the sidecar beside the downloaded image, describing the new file (its mtime). */
async function placeSidecar(rootfsPath: string, sidecar: Sidecar): Promise<string> {
  const st = await stat(rootfsPath);
  return storeSidecar(rootfsPath, { ...sidecar, size: st.size, imageMtimeMs: st.mtimeMs });
}

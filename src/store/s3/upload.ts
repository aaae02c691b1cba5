/**
 * Uploads an image (and its sidecar) to S3: multipart with parallel parts, streamed from
 * disk (at most PART_SIZE × QUEUE_SIZE bytes in memory), the image's digest stored as
 * object metadata (`chunked-sha256`, or `sha256` for a version 1 sidecar) so that a
 * download can verify it, and each part sent with its SHA-256 checksum, which S3 verifies.
 */
import { createReadStream } from 'node:fs';
import { AbortMultipartUploadCommand, DeleteObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { InfraError } from '../../errors.js';
import { DIGEST_CHUNK_BYTES } from '../../io/digest.js';
import { imageDigest, readSidecar, statRootfs, withSidecarDigest, type ImageDigest } from '../sidecar.js';
import type { TransferEvent } from '../../events.js';
import type { S3Connection } from './client.js';
import { noSuchBucket, s3Error, type S3ErrorContext } from './errors.js';
import { rootfsKey, sidecarKey, type BucketLocation } from './location.js';

/** The chunk of the chunked sha256: so that it is also S3's composite checksum of the object. */
const PART_SIZE = DIGEST_CHUNK_BYTES;
const QUEUE_SIZE = 4;
/**
 * Attempts per request for uploads: with the SDK's backoff (random up to 0.1 s × 2^n,
 * at most 20 s) ten attempts wait ~30 s in all, enough for an endpoint to restart
 * without losing the parts already sent.
 */
export const UPLOAD_MAX_ATTEMPTS = 10;

export interface UploadRequest {
  s3: S3Connection;
  location: BucketLocation;
  name: string;
  rootfsPath: string;
  /** Bytes moved so far, and non-fatal notices (stale sidecar…). */
  onEvent?: (event: TransferEvent) => void;
}

export interface UploadResult {
  key: string;
  size: number;
  /** The digest stored as the object's metadata. */
  digest: ImageDigest;
  /** The sidecar's key, when a sidecar was uploaded. */
  sidecarKey?: string;
}

export async function uploadRootfs(req: UploadRequest): Promise<UploadResult> {
  const key = rootfsKey(req.location, req.name);
  const ctx: S3ErrorContext = { operation: 'upload', bucket: req.location.bucket, key, region: req.s3.region, ...(req.s3.endpoint ? { endpoint: req.s3.endpoint } : {}) };
  const before = await statOrNotFound(req.rootfsPath);
  // Fail fast on a wrong bucket, before hashing a large image.
  await assertBucketExists(req.s3, ctx);
  const sidecar = await readSidecar(req.rootfsPath);
  const { digest, fromSidecar } = await imageDigest(req.rootfsPath, sidecar);
  if (sidecar && !fromSidecar) req.onEvent?.({ type: 'warning', text: `${req.rootfsPath} changed since its sidecar was written: its ${digest.kind} was computed again.` });

  await transfer(req, key, before.size, digest, ctx);

  const after = await statOrNotFound(req.rootfsPath);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
    await req.s3.client.send(new DeleteObjectCommand({ Bucket: req.location.bucket, Key: key })).catch(() => undefined);
    throw new InfraError('DISK', `${req.rootfsPath} changed during the upload; the object was removed. Upload again when nothing writes the image.`);
  }
  if (!sidecar) return { key, size: before.size, digest };
  const uploadedSidecar = withSidecarDigest({ ...sidecar, size: before.size }, digest.hex);
  const jsonKey = sidecarKey(req.location, req.name);
  await putJson(req.s3, req.location.bucket, jsonKey, uploadedSidecar, { ...ctx, key: jsonKey });
  return { key, size: before.size, digest, sidecarKey: jsonKey };
}

/** A chunked sha256 in S3's notation of a composite checksum: base64, `-` and the part count. */
export function s3CompositeChecksum(chunkedSha256: string, size: number): string {
  return `${Buffer.from(chunkedSha256, 'hex').toString('base64')}-${Math.ceil(size / PART_SIZE)}`;
}

async function transfer(req: UploadRequest, key: string, size: number, digest: ImageDigest, ctx: S3ErrorContext): Promise<void> {
  const upload = new Upload({
    client: req.s3.client,
    queueSize: QUEUE_SIZE,
    partSize: PART_SIZE,
    // We abort ourselves: lib-storage's own abort replaces the upload's error with the abort's.
    leavePartsOnError: true,
    params: {
      Bucket: req.location.bucket,
      Key: key,
      Body: createReadStream(req.rootfsPath, { highWaterMark: 1 << 20 }),
      ContentLength: size,
      ContentType: 'application/octet-stream',
      // Each part goes with its SHA-256, verified by S3; the object's composite checksum
      // is then our chunked sha256.
      ChecksumAlgorithm: 'SHA256',
      Metadata: { [digest.kind]: digest.hex },
    },
  });
  upload.on('httpUploadProgress', (p) => req.onEvent?.({ type: 'transfer', bytes: p.loaded ?? 0, total: size }));
  let checksum: string | undefined;
  try {
    checksum = ((await upload.done()) as { ChecksumSHA256?: string }).ChecksumSHA256;
  } catch (err) {
    if (upload.uploadId) await abortParts(req, key, upload.uploadId);
    throw s3Error(err, ctx);
  }
  // A store that reports the composite checksum (S3 does, s3rver does not) confirms the digest.
  if (digest.kind === 'chunked-sha256' && checksum?.includes('-') && checksum !== s3CompositeChecksum(digest.hex, size)) {
    await req.s3.client.send(new DeleteObjectCommand({ Bucket: req.location.bucket, Key: key })).catch(() => undefined);
    throw new InfraError('INTEGRITY', `S3 computed the checksum ${checksum} for s3://${req.location.bucket}/${key}, not ${s3CompositeChecksum(digest.hex, size)}, the chunked sha256 of ${req.rootfsPath}: the object was removed. Upload it again when nothing writes the image.`);
  }
}

/** Frees the parts of a failed multipart upload; a store that cannot abort keeps them, harmlessly. */
async function abortParts(req: UploadRequest, key: string, uploadId: string): Promise<void> {
  try {
    await req.s3.client.send(new AbortMultipartUploadCommand({ Bucket: req.location.bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    req.onEvent?.({ type: 'warning', text: `could not abort multipart upload ${uploadId} (${(err as Error).name}); its parts stay until a bucket lifecycle rule removes them.` });
  }
}

export async function assertBucketExists(s3: S3Connection, ctx: S3ErrorContext): Promise<void> {
  try {
    await s3.client.send(new HeadBucketCommand({ Bucket: ctx.bucket }));
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'NotFound' || e.name === 'NoSuchBucket' || e.$metadata?.httpStatusCode === 404) throw noSuchBucket(ctx, err);
    throw s3Error(err, { ...ctx, key: undefined });
  }
}

async function putJson(s3: S3Connection, bucket: string, key: string, value: unknown, ctx: S3ErrorContext): Promise<void> {
  try {
    await s3.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: `${JSON.stringify(value, null, 2)}\n`, ContentType: 'application/json' }),
    );
  } catch (err) {
    throw s3Error(err, ctx);
  }
}

async function statOrNotFound(path: string): Promise<{ size: number; mtimeMs: number }> {
  const st = await statRootfs(path, "build it with 'infra.operator rootfs from-docker', or pass {imagesDir}");
  if (!st.isFile()) throw new InfraError('INPUT', `${path} is not a regular file.`);
  return st;
}

/**
 * Uploads an image (and its sidecar) to S3: multipart with parallel parts, streamed from
 * disk (at most PART_SIZE × QUEUE_SIZE bytes in memory), the image's sha256 stored as
 * object metadata `sha256` so that a download can verify it.
 */
import { createReadStream } from 'node:fs';
import { AbortMultipartUploadCommand, DeleteObjectCommand, HeadBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { InfraError } from '../../errors.js';
import { imageSha256, readSidecar, statRootfs, type Sidecar } from '../sidecar.js';
import type { Progress } from '../progress.js';
import type { S3Connection } from './client.js';
import { noSuchBucket, s3Error, type S3ErrorContext } from './errors.js';
import { rootfsKey, sidecarKey, type BucketLocation } from './location.js';

/** The user-metadata key (x-amz-meta-sha256) holding the hex sha256 of the object. */
export const SHA256_METADATA_KEY = 'sha256';
const PART_SIZE = 16 * 1024 * 1024;
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
  /** Called once the size is known; gets the progress reporter for the transfer. */
  progress?: (totalBytes: number) => Progress;
  /** Non-fatal notices (stale sidecar…). */
  warn?: (message: string) => void;
}

export interface UploadResult {
  key: string;
  size: number;
  sha256: string;
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
  const { sha256, fromSidecar } = await imageSha256(req.rootfsPath, sidecar);
  if (sidecar && !fromSidecar) req.warn?.(`${req.rootfsPath} changed since its sidecar was written: its sha256 was computed again.`);

  await transfer(req, key, before.size, sha256, ctx);

  const after = await statOrNotFound(req.rootfsPath);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
    await req.s3.client.send(new DeleteObjectCommand({ Bucket: req.location.bucket, Key: key })).catch(() => undefined);
    throw new InfraError('DISK', `${req.rootfsPath} changed during the upload; the object was removed. Upload again when nothing writes the image.`);
  }
  if (!sidecar) return { key, size: before.size, sha256 };
  const uploadedSidecar: Sidecar = { ...sidecar, size: before.size, sha256 };
  const jsonKey = sidecarKey(req.location, req.name);
  await putJson(req.s3, req.location.bucket, jsonKey, uploadedSidecar, { ...ctx, key: jsonKey });
  return { key, size: before.size, sha256, sidecarKey: jsonKey };
}

async function transfer(req: UploadRequest, key: string, size: number, sha256: string, ctx: S3ErrorContext): Promise<void> {
  const progress = req.progress?.(size);
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
      Metadata: { [SHA256_METADATA_KEY]: sha256 },
    },
  });
  upload.on('httpUploadProgress', (p) => progress?.update(p.loaded ?? 0));
  try {
    await upload.done();
  } catch (err) {
    if (upload.uploadId) await abortParts(req, key, upload.uploadId);
    throw s3Error(err, ctx);
  }
  progress?.finish();
}

/** Frees the parts of a failed multipart upload; a store that cannot abort keeps them, harmlessly. */
async function abortParts(req: UploadRequest, key: string, uploadId: string): Promise<void> {
  try {
    await req.s3.client.send(new AbortMultipartUploadCommand({ Bucket: req.location.bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    req.warn?.(`could not abort multipart upload ${uploadId} (${(err as Error).name}); its parts stay until a bucket lifecycle rule removes them.`);
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

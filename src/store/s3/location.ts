/** `s3://bucket[/prefix]` locations and the keys of images under them. */
import { InfraError } from '../../errors.js';
import { rootfsFileName, legacySidecarPathFor, nameFromRootfsFile, sidecarPathFor } from '../paths.js';

export const DEFAULT_BUCKET_URL = 's3://runner-codes';

export interface BucketLocation {
  bucket: string;
  /** Key prefix, empty or ending in `/`. */
  prefix: string;
}

/** Bucket names per the S3 naming rules (3–63 of lowercase, digits, `.`, `-`), leniently. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.\-_]{1,62}$/i;

/** Parses `s3://bucket`, `s3://bucket/prefix/` or a bare bucket name. */
export function parseBucketUrl(url: string): BucketLocation {
  const rest = url.startsWith('s3://') ? url.slice('s3://'.length) : url;
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const rawPrefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/^\/+/, '');
  if (!BUCKET_NAME.test(bucket)) {
    throw new InfraError('USAGE', `Invalid bucket '${url}': use s3://bucket or s3://bucket/prefix (default ${DEFAULT_BUCKET_URL}).`);
  }
  return { bucket, prefix: rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/` };
}

export function formatLocation(location: BucketLocation, key = ''): string {
  return `s3://${location.bucket}/${key || location.prefix}`;
}

/** `prefix + rootfs-<name>.ext4` */
export function rootfsKey(location: BucketLocation, name: string): string {
  return `${location.prefix}${rootfsFileName(name)}`;
}

/** The sidecar key beside the image key, by the rule of the local sidecar path. */
export function sidecarKey(location: BucketLocation, name: string): string {
  return sidecarPathFor(rootfsKey(location, name));
}

/** Where images uploaded before sidecar version 2 have their sidecar (`prefix + rootfs-<name>.json`). */
export function legacySidecarKey(location: BucketLocation, name: string): string {
  return legacySidecarPathFor(rootfsKey(location, name)) ?? sidecarKey(location, name);
}

/** The name of an image key directly under the prefix, or undefined for any other key. */
export function nameFromKey(location: BucketLocation, key: string): string | undefined {
  if (!key.startsWith(location.prefix)) return undefined;
  const rest = key.slice(location.prefix.length);
  return rest.includes('/') ? undefined : nameFromRootfsFile(rest);
}

/** The images under an S3 location: every `rootfs-<name>.ext4` key, over all listing pages. */
import { paginateListObjectsV2 } from '@aws-sdk/client-s3';
import type { S3Connection } from './client.js';
import { s3Error } from './errors.js';
import { nameFromKey, type BucketLocation } from './location.js';

export interface RemoteRootfs {
  name: string;
  key: string;
  size: number;
  lastModified: Date;
}

export async function listRemoteRootfs(s3: S3Connection, location: BucketLocation): Promise<RemoteRootfs[]> {
  const images: RemoteRootfs[] = [];
  try {
    const pages = paginateListObjectsV2(
      { client: s3.client },
      // Only keys directly under the prefix that start like an image: sidecars and other
      // objects are filtered below, "subdirectories" are folded by the delimiter.
      { Bucket: location.bucket, Prefix: `${location.prefix}rootfs-`, Delimiter: '/' },
    );
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        const name = object.Key === undefined ? undefined : nameFromKey(location, object.Key);
        if (name === undefined || object.Key === undefined) continue;
        images.push({ name, key: object.Key, size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) });
      }
    }
  } catch (err) {
    throw s3Error(err, { operation: 'listing', bucket: location.bucket, region: s3.region, ...(s3.endpoint ? { endpoint: s3.endpoint } : {}) });
  }
  return images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

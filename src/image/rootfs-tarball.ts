/**
 * `tar:FILE`: a plain root filesystem tarball (gzip, zstd or none), e.g. Alpine's
 * minirootfs. One layer, no image config, and `.wh.` names are ordinary files.
 */
import { stat } from 'node:fs/promises';
import { InfraError } from '../errors.js';
import type { Compression } from '../layers/decompress.js';
import { runtimeConfig } from './assemble.js';
import { blobCompression, fileLayer, fileRangeDigest } from './layer.js';
import { MEDIA } from './media.js';
import type { Image } from './types.js';

const LAYER_TYPES: Record<Compression, string> = { none: MEDIA.ociLayerTar, gzip: MEDIA.ociLayerGzip, zstd: MEDIA.ociLayerZstd };

export async function openRootfsTarball(file: string, reference: string): Promise<Image> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new InfraError('INPUT', `tar:${file}: no such file (tar: takes a rootfs tarball, .tar or .tar.gz)`);
  const digest = await fileRangeDigest(file, 0, info.size);
  const mediaType = LAYER_TYPES[await blobCompression(file)];
  return {
    reference,
    digest,
    config: runtimeConfig(undefined),
    layers: [fileLayer({ index: 0, digest, size: info.size, mediaType, file })],
    whiteouts: false,
  };
}

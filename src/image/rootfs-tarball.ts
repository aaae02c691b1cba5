/**
 * `tar:FILE`: a plain root filesystem tarball (gzip, zstd or plain), e.g. Alpine's
 * minirootfs. One layer, no image config, and `.wh.` names are ordinary files.
 *
 * The file's sha256 is the image's digest. It is computed while the layer is read (the
 * one pass the build makes over it), so `digest` is empty until then.
 */
import { stat } from 'node:fs/promises';
import { InfraError } from '../errors.js';
import { digesting } from '../io/digest.js';
import { decompress } from './decompress.js';
import { runtimeConfig } from './assemble.js';
import { blobCompression, readFileRange } from './layer.js';
import { MEDIA } from './media.js';
import type { Image, ImageLayer } from './types.js';

/** OCI has no xz layer type: an xz tarball is labelled plain and read by its magic. */
const MEDIA_BY_COMPRESSION = { gzip: MEDIA.ociLayerGzip, zstd: MEDIA.ociLayerZstd, xz: MEDIA.ociLayerTar, none: MEDIA.ociLayerTar } as const;

export async function openRootfsTarball(file: string, reference: string): Promise<Image> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new InfraError('INPUT', `tar:${file}: no such file (tar: takes a rootfs tarball, .tar or .tar.gz)`);
  const mediaType = MEDIA_BY_COMPRESSION[await blobCompression(file)];
  const image: Image = { reference, digest: '', config: runtimeConfig(undefined), layers: [], whiteouts: false };
  const layer: ImageLayer = {
    digest: '',
    mediaType,
    size: info.size,
    open: () => {
      const bytes = digesting(readFileRange(file, 0, info.size, true), (digest) => {
        image.digest = digest;
        layer.digest = digest;
      });
      return decompress(bytes, mediaType, reference);
    },
  };
  image.layers.push(layer);
  return image;
}

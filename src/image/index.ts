/**
 * The image sources behind one entry point: `openImage(ref, options)` returns the same
 * `Image` for a registry, an OCI layout or archive, a `docker save` archive or a plain
 * rootfs tarball. See docs/sources.md.
 */
import { openDockerArchive } from './docker-archive.js';
import { openOciArchive, openOciDirectory } from './layout.js';
import { DEFAULT_PLATFORM, parsePlatform } from './media.js';
import { parseSource } from './reference.js';
import { openRegistryImage, type RegistryOptions } from './registry/remote.js';
import { openRootfsTarball } from './rootfs-tarball.js';
import type { Image } from './types.js';

export interface OpenImageOptions extends RegistryOptions {
  /** `os/arch[/variant]`; default linux/amd64. */
  platform?: string;
}

export async function openImage(ref: string, options: OpenImageOptions = {}): Promise<Image> {
  const wanted = parsePlatform(options.platform ?? DEFAULT_PLATFORM);
  const source = parseSource(ref);
  switch (source.transport) {
    case 'docker':
      return openRegistryImage(source.ref, wanted, ref.startsWith('docker://') ? ref : `docker://${ref}`, options);
    case 'oci':
      return openOciDirectory(source.path, source.ref, wanted, ref);
    case 'oci-archive':
      return openOciArchive(source.path, source.ref, wanted, ref);
    case 'docker-archive':
      return openDockerArchive(source.path, source.ref, wanted, ref);
    case 'tar':
      return openRootfsTarball(source.path, ref);
  }
}

export type { Image, ImageLayer, ImageRuntimeConfig, LayerProgress, Platform } from './types.js';
export { parseSource, parseDockerReference, formatDockerReference } from './reference.js';

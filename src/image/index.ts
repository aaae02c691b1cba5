/**
 * The image sources behind one entry point: `openImage(ref, options)` returns the same
 * `Image` for a registry, an OCI layout or archive, a `docker save` archive or a plain
 * rootfs tarball. See docs/sources.md.
 */
import { DEFAULT_PLATFORM, parsePlatform } from './media.js';
import { parseSource } from './reference.js';
import type { RegistryOptions } from './registry/remote.js';
import type { Image } from './types.js';

export interface OpenImageOptions extends RegistryOptions {
  /** `os/arch[/variant]`; default linux/amd64. */
  platform?: string;
}

/** Each source's code is loaded when an image of its kind is opened (the HTTP client alone costs ~60 ms of start-up). */
export async function openImage(ref: string, options: OpenImageOptions = {}): Promise<Image> {
  const wanted = parsePlatform(options.platform ?? DEFAULT_PLATFORM);
  const source = parseSource(ref);
  switch (source.transport) {
    case 'docker':
      return (await import('./registry/remote.js')).openRegistryImage(source.ref, wanted, ref.startsWith('docker://') ? ref : `docker://${ref}`, options);
    case 'oci':
      return (await import('./layout.js')).openOciDirectory(source.path, source.ref, wanted, ref);
    case 'oci-archive':
      return (await import('./layout.js')).openOciArchive(source.path, source.ref, wanted, ref);
    case 'docker-archive':
      return (await import('./docker-archive.js')).openDockerArchive(source.path, source.ref, wanted, ref);
    case 'tar':
      return (await import('./rootfs-tarball.js')).openRootfsTarball(source.path, ref);
  }
}

export type { Image, ImageLayer, ImageRuntimeConfig, LayerProgress, Platform } from './types.js';
export { parseSource, parseDockerReference, formatDockerReference } from './reference.js';

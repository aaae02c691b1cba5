/**
 * From an index or manifest to an `Image`, whatever holds the blobs: platform selection,
 * manifest and config validation, and the layer list. Sources supply a way to read a
 * document by descriptor and the local file holding each layer blob.
 */
import { InfraError } from '../errors.js';
import { assertDigest, sha256Digest } from './digest.js';
import { fileLayer } from './layer.js';
import {
  type Descriptor,
  type ImageConfigDocument,
  type ImageManifest,
  formatPlatform,
  INDEX_TYPES,
  listPlatforms,
  MANIFEST_TYPES,
  MEDIA,
  platformMatches,
  selectPlatform,
} from './media.js';
import { parseDocument } from './schemas.js';
import type { Image, ImageRuntimeConfig, Platform } from './types.js';

/** A document (index, manifest or config) read by descriptor, size and digest already verified. */
export type ReadDocument = (descriptor: Descriptor, what: string) => Promise<Buffer>;

export interface TopDocument {
  bytes: Buffer;
  /** Digest the document was addressed by; computed from `bytes` when absent. */
  digest?: string;
  /** Content-Type or descriptor media type, when known. */
  mediaType?: string;
  /** Names it in messages (e.g. `docker://…`). */
  name: string;
}

export interface ResolvedManifest {
  digest: string;
  manifest: ImageManifest;
  config: ImageConfigDocument;
  platform: Platform;
}

const CONFIG_TYPES: readonly string[] = [MEDIA.ociConfig, MEDIA.dockerConfig];

/**
 * Most layers an image may have. Docker's overlay2 stops at 128 and real images stay far
 * below; thousands only exhaust descriptors and memory, so they are refused up front.
 */
export const MAX_LAYERS = 500;

/** Refuses an image with more than MAX_LAYERS layers, before any of them is read. */
export function assertLayerCount(count: number, what: string): void {
  if (count > MAX_LAYERS) {
    throw new InfraError('MANIFEST', `${what} lists ${count} layers, more than the ${MAX_LAYERS} infra.operator accepts; squash the image (fewer RUN steps, or a multi-stage build)`);
  }
}

/** Media type of a document: its own field, else what it was served as, else its shape. */
function kindOf(bytes: Buffer, declared: string | undefined): 'index' | 'manifest' | 'other' {
  let own: { mediaType?: unknown; manifests?: unknown; layers?: unknown } = {};
  try {
    own = JSON.parse(bytes.toString()) as typeof own;
  } catch {
    return 'manifest'; // the schema check reports the JSON error with the document's name
  }
  const mediaType = typeof own.mediaType === 'string' ? own.mediaType : declared?.split(';')[0]?.trim();
  if (mediaType && INDEX_TYPES.includes(mediaType)) return 'index';
  if (mediaType && MANIFEST_TYPES.includes(mediaType)) return 'manifest';
  if (Array.isArray(own.manifests)) return 'index';
  if (Array.isArray(own.layers)) return 'manifest';
  return 'other';
}

/**
 * Follows an index to the manifest for `wanted` (fetching it by digest) and reads its
 * config. A single-platform image for another platform is refused, naming both.
 */
export async function resolveManifest(top: TopDocument, wanted: Platform, read: ReadDocument): Promise<ResolvedManifest> {
  let doc = { ...top, digest: top.digest ?? sha256Digest(top.bytes) };
  let fromIndex = false;
  for (let depth = 0; kindOf(doc.bytes, doc.mediaType) === 'index'; depth++) {
    if (depth > 2) throw new InfraError('MANIFEST', `${top.name}: indexes nested too deeply`);
    const index = parseDocument('image-index', doc.bytes, `index ${doc.digest} of ${top.name}`);
    const chosen = selectPlatform(index, wanted) ?? nestedIndex(index);
    if (!chosen) {
      throw new InfraError(
        'PLATFORM',
        `${top.name} has no image for ${formatPlatform(wanted)}; it offers ${listPlatforms(index)}.`,
        { option: 'platform', hint: 'choose one with {platform}' },
      );
    }
    const what = `manifest ${chosen.digest} of ${top.name}`;
    doc = { bytes: await read(chosen, what), digest: chosen.digest, mediaType: chosen.mediaType, name: top.name };
    fromIndex = true;
  }
  if (kindOf(doc.bytes, doc.mediaType) !== 'manifest') {
    throw new InfraError('MANIFEST', `${top.name} (${doc.digest}) is neither an image index nor an image manifest`);
  }
  const manifest = parseDocument('image-manifest', doc.bytes, `manifest ${doc.digest} of ${top.name}`);
  assertLayerCount(manifest.layers.length, `manifest ${doc.digest} of ${top.name}`);
  const config = await readConfig(manifest, top.name, read);
  const platform = configPlatform(config);
  if (!fromIndex && !platformMatches(wanted, platform)) {
    throw new InfraError(
      'PLATFORM',
      `${top.name} is a single-platform image for ${formatPlatform(platform)}, not the requested ${formatPlatform(wanted)}.`,
      { option: 'platform', hint: `pass {platform} ${formatPlatform(platform)} to use it anyway` },
    );
  }
  return { digest: doc.digest, manifest, config, platform };
}

/** An index whose entries lack platforms but point to further indexes (rare, but legal). */
function nestedIndex(index: { manifests: Descriptor[] }): Descriptor | undefined {
  return index.manifests.find((d) => INDEX_TYPES.includes(d.mediaType));
}

async function readConfig(manifest: ImageManifest, name: string, read: ReadDocument): Promise<ImageConfigDocument> {
  const descriptor = manifest.config;
  if (!CONFIG_TYPES.includes(descriptor.mediaType)) {
    throw new InfraError(
      'INPUT',
      `${name} is not a container image (its config is ${descriptor.mediaType}); pick an image reference, not an artifact`,
    );
  }
  const what = `config ${descriptor.digest} of ${name}`;
  assertDigest(descriptor.digest, what);
  const config = parseDocument('image-config', await read(descriptor, what), what);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new InfraError(
      'MANIFEST',
      `${what} lists ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers; the image is malformed`,
    );
  }
  return config;
}

function configPlatform(config: ImageConfigDocument): Platform {
  const platform: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) platform.variant = config.variant;
  return platform;
}

/** image-spec config.md `config` → what the rootfs needs (null and absent mean empty). */
export function runtimeConfig(config: ImageConfigDocument | undefined): ImageRuntimeConfig {
  const c = config?.config ?? {};
  return {
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    workingDir: c.WorkingDir ?? '',
    user: c.User ?? '',
  };
}

/** Only filesystem layers can be applied; anything else means the manifest is not an image. */
export function assertLayerType(descriptor: Descriptor, what: string): void {
  const type = descriptor.mediaType;
  const fsLayer = type.startsWith('application/vnd.oci.image.layer.') || type.startsWith('application/vnd.docker.image.rootfs.');
  if (!fsLayer) throw new InfraError('MANIFEST', `${what} has media type ${type}, which is not a filesystem layer`);
  assertDigest(descriptor.digest, what);
}

export interface LayerLocation {
  file: string;
  offset: number;
  /** The blob was verified by this process just now (see FileLayerSpec.blobVerified). */
  blobVerified?: boolean;
}

/** Builds the `Image`; `locate` gives the local file holding each (already fetched) layer blob. */
export function imageFrom(
  reference: string,
  resolved: ResolvedManifest,
  locate: (descriptor: Descriptor, index: number) => LayerLocation,
  close?: () => Promise<void>,
): Image {
  const layers = resolved.manifest.layers.map((descriptor, index) => {
    const { file, offset, blobVerified } = locate(descriptor, index);
    return fileLayer({
      index,
      digest: descriptor.digest,
      size: descriptor.size,
      mediaType: descriptor.mediaType,
      diffId: resolved.config.rootfs.diff_ids[index]!,
      file,
      offset,
      ...(blobVerified ? { blobVerified } : {}),
    });
  });
  const image: Image = {
    reference,
    digest: resolved.digest,
    platform: resolved.platform,
    config: runtimeConfig(resolved.config),
    layers,
    whiteouts: true,
  };
  if (resolved.config.created) image.created = resolved.config.created;
  if (close) image.close = close;
  return image;
}

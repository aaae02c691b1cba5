/**
 * Image documents as the specs declare them, declared once. Field names follow the OCI
 * image-spec (descriptor.md, image-index.md, manifest.md, config.md, image-layout.md) and
 * Docker's "Image Manifest V2, Schema 2" and `docker save` (image/tarexport) formats.
 */
import { InfraError } from '../errors.js';
import type { Platform } from './types.js';

/** Media types (image-spec media-types.md; Docker manifest-v2-2.md). */
export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

export const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList];
export const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];

/** descriptor.md */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: DescriptorPlatform;
}

/** image-index.md `manifests[].platform` */
export interface DescriptorPlatform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/** image-index.md (also Docker's manifest list). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** manifest.md (also Docker's schema 2 manifest). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** config.md: only the fields this tool reads. */
export interface ImageConfigDocument {
  created?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
  } | null;
  rootfs: { type: 'layers'; diff_ids: string[] };
}

/** `docker save` manifest.json entries (moby image/tarexport). */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** image-layout.md: the annotation naming a reference in index.json. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** containerd / newer `docker save`: the full image name in index.json. */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';

export const DEFAULT_PLATFORM = 'linux/amd64';

/** Manifests, indexes and configs are small; a larger "document" is refused unread. */
export const MAX_DOCUMENT_SIZE = 4 << 20;

/** Parses `os/arch[/variant]`. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new InfraError('USAGE', `invalid platform "${text}": use os/arch[/variant], e.g. linux/amd64 or linux/arm64`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** arm64's `v8` is its only variant, so it equals no variant (containerd platforms.Normalize). */
function normalVariant(p: Platform): string {
  const variant = p.variant ?? '';
  return p.architecture === 'arm64' && variant === 'v8' ? '' : variant;
}

/**
 * Whether `candidate` runs on `wanted`. A wanted platform without variant accepts any
 * variant of its architecture.
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  if (wanted.os !== candidate.os || wanted.architecture !== candidate.architecture) return false;
  const variant = normalVariant(wanted);
  return variant === '' || variant === normalVariant(candidate);
}

/** The descriptor for `wanted`, preferring an exact variant match. */
export function selectPlatform(index: ImageIndex, wanted: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter(
    (d) => MANIFEST_TYPES.includes(d.mediaType) && d.platform && platformMatches(wanted, d.platform),
  );
  const exact = candidates.find((d) => normalVariant(d.platform!) === normalVariant(wanted));
  return exact ?? candidates[0];
}

export function listPlatforms(index: ImageIndex): string {
  // Attestation manifests (BuildKit) declare unknown/unknown: they are not images.
  const names = index.manifests.flatMap((d) => (d.platform && d.platform.os !== 'unknown' ? [formatPlatform(d.platform)] : []));
  return names.length > 0 ? names.join(', ') : '(none declared)';
}

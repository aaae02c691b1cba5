/**
 * `docker-archive:FILE[:REF]`: what `docker save` writes (moby image/tarexport):
 * `manifest.json` naming each image's config and layer tars. Docker 25+ writes the
 * same manifest.json over an OCI layout (`blobs/sha256/…`), which reads the same way.
 * With no manifest to digest, the image's digest is its config digest (Docker's image ID).
 */
import { InfraError } from '../errors.js';
import { assertLayerCount, assertLayerType, runtimeConfig } from './assemble.js';
import { sha256Digest } from './digest.js';
import { type Compression } from './decompress.js';
import { blobCompression, fileLayer, fileRangeDigest } from './layer.js';
import { openArchive, sameImageName } from './layout.js';
import { type DockerArchiveEntry, formatPlatform, MAX_DOCUMENT_SIZE, MEDIA, platformMatches } from './media.js';
import { parseDocument } from './schemas.js';
import { storedName, type ArchiveMember, type TarIndex } from '../tar/archive-index.js';
import type { Image, Platform } from './types.js';

const BLOB_PATH = /^blobs\/sha256\/([a-f0-9]{64})$/;

/** Docker has no zstd layer type of its own; containerd uses OCI's. xz layers (old docker) are read by their magic. */
const LAYER_TYPES: Record<Compression, string> = {
  none: MEDIA.dockerLayerTar,
  gzip: MEDIA.dockerLayerGzip,
  zstd: MEDIA.ociLayerZstd,
  xz: MEDIA.dockerLayerTar,
};

export async function openDockerArchive(file: string, ref: string | undefined, wanted: Platform, reference: string): Promise<Image> {
  const name = `docker-archive:${file}`;
  const index = await openArchive(file, 'docker-archive');
  const manifestBytes = await index.readText('manifest.json');
  if (!manifestBytes) {
    const hint = index.find('index.json') ? `; it looks like an OCI archive: use oci-archive:${file}` : '';
    throw new InfraError('INPUT', `${name} has no manifest.json, so it is not \`docker save\` output${hint}`);
  }
  const entries = parseDocument('docker-archive-manifest', manifestBytes, `manifest.json of ${name}`);
  const entry = chooseEntry(entries, ref, name);
  assertLayerCount(entry.Layers.length, `manifest.json of ${name}`);

  const configMember = member(index, entry.Config, `config ${entry.Config} of ${name}`);
  if (configMember.size > MAX_DOCUMENT_SIZE) throw new InfraError('MANIFEST', `config ${entry.Config} of ${name} is too large for an image config`);
  const configBytes = (await index.readText(storedName(entry.Config)))!;
  const configDigest = sha256Digest(configBytes);
  checkNamedDigest(entry.Config, configDigest, `config ${entry.Config} of ${name}`);
  const config = parseDocument('image-config', configBytes, `config ${entry.Config} of ${name}`);
  const platform: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  if (!platformMatches(wanted, platform)) {
    throw new InfraError(
      'PLATFORM',
      `${name} holds an image for ${formatPlatform(platform)}, not the requested ${formatPlatform(wanted)}.`,
      { option: 'platform', hint: `pass {platform} ${formatPlatform(platform)} to use it anyway` },
    );
  }
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== entry.Layers.length) {
    throw new InfraError('MANIFEST', `manifest.json of ${name} lists ${entry.Layers.length} layers but its config has ${diffIds.length} diff_ids`);
  }
  const layers = await Promise.all(
    entry.Layers.map(async (path, i) => {
      const what = `layer ${i + 1} (${path}) of ${name}`;
      const place = member(index, path, what);
      const compression = await blobCompression(index.file, place.offset);
      const mediaType = LAYER_TYPES[compression];
      const digest = await layerDigest(index.file, place, path, compression === 'none' ? diffIds[i]! : undefined);
      assertLayerType({ mediaType, digest, size: place.size }, what);
      return fileLayer({ index: i, digest, size: place.size, mediaType, diffId: diffIds[i]!, file: index.file, offset: place.offset });
    }),
  );
  const image: Image = { reference, digest: configDigest, platform, config: runtimeConfig(config), layers, whiteouts: true };
  if (config.created) image.created = config.created;
  return image;
}

function chooseEntry(entries: DockerArchiveEntry[], ref: string | undefined, name: string): DockerArchiveEntry {
  const describe = () => entries.map((e, i) => (e.RepoTags?.length ? e.RepoTags.join(' ') : `@${i}`)).join(', ');
  if (ref === undefined) {
    if (entries.length === 1) return entries[0]!;
    throw new InfraError('INPUT', `${name} holds ${entries.length} images; name one as ${name}:REF (a tag, or @N by position). It has: ${describe()}`);
  }
  const position = /^@(\d+)$/.exec(ref);
  const match = position ? entries[Number(position[1])] : entries.find((e) => (e.RepoTags ?? []).some((tag) => sameImageName(tag, ref)));
  if (!match) throw new InfraError('NOT_FOUND', `${name} has no image "${ref}"; it has: ${describe()}`);
  return match;
}

function member(index: TarIndex, path: string, what: string): ArchiveMember {
  const found = index.find(storedName(path));
  if (!found) throw new InfraError('INPUT', `${what} is missing from the archive; it is incomplete`);
  return found;
}

/** Files named after their digest (`blobs/sha256/…`, legacy `<id>.json`) must match it. */
function checkNamedDigest(path: string, digest: string, what: string): void {
  const named = BLOB_PATH.exec(path)?.[1] ?? /^([a-f0-9]{64})\.json$/.exec(path)?.[1];
  if (named && `sha256:${named}` !== digest) {
    throw new InfraError('INTEGRITY', `${what} does not match the digest in its name; the archive is damaged`);
  }
}

/**
 * The blob digest of a layer member: from its `blobs/sha256/` name; for a plain tar, its
 * DiffID (the same bytes, checked when opened); otherwise hashed here.
 */
async function layerDigest(file: string, place: ArchiveMember, path: string, plainDiffId: string | undefined): Promise<string> {
  const named = BLOB_PATH.exec(path)?.[1];
  if (named) return `sha256:${named}`;
  if (plainDiffId) return plainDiffId;
  return fileRangeDigest(file, place.offset, place.size);
}

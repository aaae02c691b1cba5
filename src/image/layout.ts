/**
 * OCI image layouts (image-spec image-layout.md): a directory (`oci:DIR[:REF]`) or the
 * same tree inside an uncompressed tar (`oci-archive:FILE[:REF]`). Blobs are read in place.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InfraError } from '../errors.js';
import { assertLayerType, imageFrom, resolveManifest, type LayerLocation, type ReadDocument } from './assemble.js';
import { assertDigest, digestHex, sha256Digest } from './digest.js';
import { blobCompression, readFileRange } from './layer.js';
import { type Descriptor, type ImageIndex, IMAGE_NAME_ANNOTATION, MAX_DOCUMENT_SIZE, REF_NAME_ANNOTATION } from './media.js';
import { parseDockerReference, formatDockerReference } from './reference.js';
import { parseDocument } from './schemas.js';
import { storedName, TarIndex } from '../tar/archive-index.js';
import type { Image, Platform } from './types.js';

/** Where a blob's bytes are: a whole file, or a range of an archive. */
export interface BlobPlace extends LayerLocation {
  size: number;
}

/** Read access to the files of a layout, wherever they live. */
export interface LayoutFiles {
  /** Names the layout in messages (`oci:DIR`, `oci-archive:FILE`). */
  name: string;
  readFile(path: string): Promise<Buffer | undefined>;
  locate(path: string): Promise<BlobPlace | undefined>;
}

export function directoryFiles(dir: string, name: string): LayoutFiles {
  return {
    name,
    readFile: async (path) => readFile(join(dir, path)).catch(() => undefined),
    locate: async (path) => {
      const info = await stat(join(dir, path)).catch(() => undefined);
      return info?.isFile() ? { file: join(dir, path), offset: 0, size: info.size } : undefined;
    },
  };
}

export function archiveFiles(index: TarIndex, name: string): LayoutFiles {
  return {
    name,
    readFile: (path) => index.readText(storedName(path)),
    locate: async (path) => {
      const member = index.find(storedName(path));
      return member && { file: index.file, offset: member.offset, size: member.size };
    },
  };
}

export function blobPath(digest: string): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

/** Locates a blob and checks its size against the descriptor. */
export async function locateBlob(files: LayoutFiles, descriptor: Descriptor, what: string): Promise<BlobPlace> {
  const place = await files.locate(blobPath(assertDigest(descriptor.digest, what)));
  if (!place) throw new InfraError('NOT_FOUND', `${what} is missing from ${files.name} (no ${blobPath(descriptor.digest)}); the layout is incomplete`);
  if (place.size !== descriptor.size) {
    throw new InfraError('INTEGRITY', `${what} in ${files.name} is ${place.size} bytes, not the ${descriptor.size} its descriptor declares`);
  }
  return place;
}

export function documentReader(files: LayoutFiles): ReadDocument {
  return async (descriptor, what) => {
    if (descriptor.size > MAX_DOCUMENT_SIZE) throw new InfraError('MANIFEST', `${what} declares ${descriptor.size} bytes, too large for a document`);
    const place = await locateBlob(files, descriptor, what);
    const chunks: Buffer[] = [];
    for await (const chunk of readFileRange(place.file, place.offset, place.size)) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    if (sha256Digest(bytes) !== descriptor.digest) {
      throw new InfraError('INTEGRITY', `${what} in ${files.name} does not match its digest ${descriptor.digest}; the layout is damaged`);
    }
    return bytes;
  };
}

/** Opens the image `ref` (or the only image) of a layout. */
export async function openLayout(files: LayoutFiles, ref: string | undefined, wanted: Platform, reference: string): Promise<Image> {
  const layoutFile = await files.readFile('oci-layout');
  if (!layoutFile) throw new InfraError('INPUT', `${files.name} is not an OCI image layout (no oci-layout file)`);
  parseDocument('oci-layout', layoutFile, `oci-layout of ${files.name}`);
  const indexBytes = await files.readFile('index.json');
  if (!indexBytes) throw new InfraError('INPUT', `${files.name} is not an OCI image layout (no index.json)`);
  const index = parseDocument('image-index', indexBytes, `index.json of ${files.name}`);
  const chosen = chooseEntry(index, ref, files.name);
  const read = documentReader(files);
  const top = { bytes: await read(chosen, `${chosen.digest} of ${files.name}`), digest: chosen.digest, mediaType: chosen.mediaType, name: reference };
  const resolved = await resolveManifest(top, wanted, read);
  const places = await Promise.all(
    resolved.manifest.layers.map((layer, i) => {
      const what = `layer ${i + 1} (${layer.digest}) of ${reference}`;
      assertLayerType(layer, what);
      return locateBlob(files, layer, what);
    }),
  );
  return imageFrom(reference, resolved, (_layer, i) => places[i]!);
}

/** The names an index.json entry answers to: its ref name, and its full image name. */
function entryNames(entry: Descriptor): string[] {
  const names = [entry.annotations?.[REF_NAME_ANNOTATION], entry.annotations?.[IMAGE_NAME_ANNOTATION]];
  return names.filter((n): n is string => typeof n === 'string' && n !== '');
}

/** Compares image names after Docker normalisation (`alpine` = `docker.io/library/alpine:latest`). */
export function sameImageName(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return formatDockerReference(parseDockerReference(a)) === formatDockerReference(parseDockerReference(b));
  } catch {
    return false;
  }
}

function chooseEntry(index: ImageIndex, ref: string | undefined, name: string): Descriptor {
  const entries = index.manifests;
  if (entries.length === 0) throw new InfraError('INPUT', `${name} holds no images (index.json is empty)`);
  if (ref === undefined) {
    if (entries.length === 1) return entries[0]!;
    throw new InfraError('INPUT', `${name} holds ${entries.length} images; name one as ${name}:REF. It has: ${describeEntries(entries)}`);
  }
  const match = entries.find((e) => e.digest === ref || entryNames(e).some((n) => n === ref || sameImageName(n, ref)));
  if (!match) throw new InfraError('NOT_FOUND', `${name} has no image "${ref}"; it has: ${describeEntries(entries)}`);
  return match;
}

function describeEntries(entries: Descriptor[]): string {
  return entries.map((e) => entryNames(e)[0] ?? e.digest).join(', ');
}

/** `oci:DIR[:REF]` */
export async function openOciDirectory(dir: string, ref: string | undefined, wanted: Platform, reference: string): Promise<Image> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new InfraError('INPUT', `oci:${dir}: no such directory (oci: takes an OCI layout directory; use oci-archive: for a tar file)`);
  return openLayout(directoryFiles(dir, `oci:${dir}`), ref, wanted, reference);
}

/** `oci-archive:FILE[:REF]` */
export async function openOciArchive(file: string, ref: string | undefined, wanted: Platform, reference: string): Promise<Image> {
  const index = await openArchive(file, 'oci-archive');
  return openLayout(archiveFiles(index, `oci-archive:${file}`), ref, wanted, reference);
}

export async function openArchive(file: string, transport: string): Promise<TarIndex> {
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new InfraError('INPUT', `${transport}:${file}: no such file`);
  if ((await blobCompression(file)) !== 'none') {
    throw new InfraError('INPUT', `${transport}:${file} is compressed; decompress it first (e.g. gunzip -k or zstd -d) and pass the .tar`);
  }
  return TarIndex.read(file);
}

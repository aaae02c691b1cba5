/**
 * Builds test images from rootfs tarballs, with a small writer of our own (no umoci, so
 * digests are stable for the same input): OCI image layouts (one image, or an index over
 * several platforms), OCI archives, `docker save` style archives, and pushes layouts
 * to a registry with skopeo.
 */
import type { Test } from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InfraError } from '../../src/errors.js';

export interface BuiltLayer {
  /** The blob as stored (gzip). */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  file: string;
}

export interface BuiltImage {
  platform: { os: string; architecture: string; variant?: string };
  manifestDigest: string;
  configDigest: string;
  layers: BuiltLayer[];
}

export interface ImageSpec {
  platform: { os: string; architecture: string; variant?: string };
  /** Gzip (or plain) tarballs, bottom first. */
  layers: string[];
  env?: string[];
  cmd?: string[];
  /** More fields of the config's `config` (User, WorkingDir, Entrypoint…). */
  extra?: Record<string, unknown>;
}

export const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function isGzip(data: Buffer): boolean {
  return data[0] === 0x1f && data[1] === 0x8b;
}

/** A zstd frame, or a skippable frame (magic 0x184D2A5?) as pzstd writes first. */
function isZstd(data: Buffer): boolean {
  if (data.length < 4) return false;
  const magic = data.readUInt32LE(0);
  return magic === 0xfd2fb528 || (magic & 0xfffffff0) >>> 0 === 0x184d2a50;
}

function layerMediaType(head: Buffer): string {
  return isGzip(head) ? OCI.layerGzip : isZstd(head) ? OCI.layerZstd : OCI.layerTar;
}

/** The tar inside a layer file (zstd through the zstd tool, which the caller checked for). */
function uncompressed(data: Buffer): Buffer {
  if (isGzip(data)) return gunzipSync(data);
  if (isZstd(data)) return execFileSync('zstd', ['-dc'], { input: data, maxBuffer: 1 << 30 });
  return data;
}

export class LayoutWriter {
  private readonly entries: object[] = [];

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  blobFile(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digest.slice(7));
  }

  writeBlob(data: Buffer | string): { digest: string; size: number } {
    const digest = sha256(data);
    writeFileSync(this.blobFile(digest), data);
    return { digest, size: Buffer.byteLength(data) };
  }

  addLayer(tarball: string): BuiltLayer {
    const data = readFileSync(tarball);
    const digest = sha256(data);
    copyFileSync(tarball, this.blobFile(digest));
    return { digest, size: data.length, diffId: sha256(uncompressed(data)), file: this.blobFile(digest) };
  }

  /** Writes config and manifest for one image; returns the descriptor parts. */
  addImage(spec: ImageSpec): BuiltImage {
    const layers = spec.layers.map((l) => this.addLayer(l));
    const config = {
      created: '2024-09-06T00:00:00Z',
      ...spec.platform,
      config: { Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: spec.cmd ?? ['/bin/sh'], ...spec.extra },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    };
    const configBlob = this.writeBlob(JSON.stringify(config));
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI.manifest,
      config: { mediaType: OCI.config, ...configBlob },
      layers: layers.map((l) => ({ mediaType: layerMediaType(readFileSync(l.file).subarray(0, 4)), digest: l.digest, size: l.size })),
    };
    const manifestBlob = this.writeBlob(JSON.stringify(manifest));
    return { platform: spec.platform, manifestDigest: manifestBlob.digest, configDigest: configBlob.digest, layers };
  }

  /** Names one image (single manifest) in index.json. */
  tagImage(image: BuiltImage, refName: string): void {
    const size = readFileSync(this.blobFile(image.manifestDigest)).length;
    this.entries.push({ mediaType: OCI.manifest, digest: image.manifestDigest, size, annotations: { 'org.opencontainers.image.ref.name': refName } });
    this.flush();
  }

  /** Writes an image index over `images` and names it in index.json. */
  tagIndex(images: BuiltImage[], refName: string): { digest: string } {
    const index = {
      schemaVersion: 2,
      mediaType: OCI.index,
      manifests: images.map((img) => ({
        mediaType: OCI.manifest,
        digest: img.manifestDigest,
        size: readFileSync(this.blobFile(img.manifestDigest)).length,
        platform: img.platform,
      })),
    };
    const blob = this.writeBlob(JSON.stringify(index));
    this.entries.push({ mediaType: OCI.index, ...blob, annotations: { 'org.opencontainers.image.ref.name': refName } });
    this.flush();
    return { digest: blob.digest };
  }

  private flush(): void {
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI.index, manifests: this.entries }));
  }
}

/** Packs a directory into an uncompressed tar (members named `./…`, as GNU tar writes). */
export function tarDirectory(dir: string, file: string): string {
  execFileSync('tar', ['-cf', file, '-C', dir, '.']);
  return file;
}

/**
 * A `docker save` (legacy, pre-25) archive: `<config-hex>.json`, `<n>/layer.tar`
 * (uncompressed; a repeated layer is a symlink to its first copy) and manifest.json.
 */
export function dockerSaveArchive(scratch: string, file: string, images: Array<{ spec: ImageSpec; repoTags: string[] }>): Array<{ configDigest: string; diffIds: string[] }> {
  const root = join(scratch, 'docker-save');
  mkdirSync(root, { recursive: true });
  let layerNo = 0;
  const written = new Map<string, string>();
  const manifest: object[] = [];
  const built = images.map(({ spec, repoTags }) => {
    const layerPaths: string[] = [];
    const diffIds: string[] = [];
    for (const tarball of spec.layers) {
      const raw = readFileSync(tarball);
      const tar = isGzip(raw) ? gunzipSync(raw) : raw;
      const path = `${++layerNo}/layer.tar`;
      mkdirSync(join(root, String(layerNo)));
      // Like docker save, a layer already written is a symlink to the first copy.
      const earlier = written.get(tarball);
      if (earlier) symlinkSync(`../${earlier}`, join(root, path));
      else writeFileSync(join(root, path), tar);
      if (!earlier) written.set(tarball, path);
      layerPaths.push(path);
      diffIds.push(sha256(tar));
    }
    const config = JSON.stringify({
      created: '2024-09-06T00:00:00Z',
      ...spec.platform,
      config: { Env: spec.env ?? [], Cmd: spec.cmd ?? ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    });
    const configDigest = sha256(config);
    writeFileSync(join(root, `${configDigest.slice(7)}.json`), config);
    manifest.push({ Config: `${configDigest.slice(7)}.json`, RepoTags: repoTags, Layers: layerPaths });
    return { configDigest, diffIds };
  });
  writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
  tarDirectory(root, file);
  return built;
}

export interface PushOptions {
  creds?: string;
  /** Directory holding `ca.crt` for a TLS registry. */
  certDir?: string;
  /** `v2s2` converts to Docker's schema 2 manifest and media types (single images only). */
  format?: 'v2s2';
}

/**
 * `skopeo copy --all oci:DIR:REF docker://HOST/NAME:TAG`. Asynchronous: a token service
 * in this process must stay able to answer skopeo.
 */
export function pushLayout(layoutDir: string, refName: string, destination: string, options: PushOptions = {}): Promise<void> {
  const args = ['copy', '--quiet', '--insecure-policy', ...(options.format ? ['--format', options.format] : ['--all'])];
  if (options.certDir) args.push('--dest-cert-dir', options.certDir);
  else args.push('--dest-tls-verify=false');
  if (options.creds) args.push('--dest-creds', options.creds);
  args.push(`oci:${layoutDir}:${refName}`, `docker://${destination}`);
  return new Promise((resolve, reject) => {
    execFile('skopeo', args, { timeout: 120_000 }, (err, _stdout, stderr) =>
      err ? reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr || err.message}`)) : resolve(),
    );
  });
}

/** Reads a stream to the end: its sha256, size and first bytes. */
export async function drain(stream: AsyncIterable<Buffer>): Promise<{ digest: string; size: number; head: Buffer }> {
  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
    if (head.length < 512) head = Buffer.concat([head, chunk]).subarray(0, 512);
  }
  return { digest: `sha256:${hash.digest('hex')}`, size, head };
}

/** sha256 of a gzip file's uncompressed content (the DiffID of a gzip layer). */
export function uncompressedDigest(file: string): string {
  return sha256(gunzipSync(readFileSync(file)));
}

type Asserts = Pick<Test, 'ok' | 'equal' | 'match'>;

/** Expects `promise` to reject with an InfraError of `code` whose message contains all of `parts`. */
export async function rejects(t: Asserts, promise: Promise<unknown>, code: string, parts: Array<string | RegExp>): Promise<Error> {
  const err = (await promise.then(
    () => new Error('resolved instead of rejecting'),
    (e: unknown) => e,
  )) as Error & { code?: string };
  t.ok(err instanceof InfraError, `rejects with an InfraError (got ${err.name}: ${err.message})`);
  t.equal(err.code, code, `code ${code}: ${err.message}`);
  for (const part of parts) t.match(err.message, part);
  return err;
}

/** A small gzip layer holding one file `name` with `content` (built with tar). */
export function smallLayer(scratch: string, name: string, content: string): string {
  const dir = join(scratch, `layer-src-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), content);
  const file = join(scratch, `layer-${name}.tar.gz`);
  execFileSync('tar', ['-czf', file, '-C', dir, name]);
  return file;
}

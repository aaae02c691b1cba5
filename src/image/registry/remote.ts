/**
 * `docker://REF`: resolve the manifest for the platform, then fetch the config and every
 * layer into the blob cache (in parallel, bounded per host) so the layers can be read,
 * and re-read, from disk.
 */
import { readFile } from 'node:fs/promises';
import { InfraError } from '../../errors.js';
import { temporaryDirectory } from '../../io/temp.js';
import { assertLayerType, imageFrom, resolveManifest, type ReadDocument } from '../assemble.js';
import { BlobCache, defaultCacheDir } from '../cache.js';
import { INDEX_TYPES, MANIFEST_TYPES, MAX_DOCUMENT_SIZE, type Descriptor } from '../media.js';
import type { DockerReference } from '../reference.js';
import type { Image, LayerProgress, Platform } from '../types.js';
import { RegistryClient } from './client.js';
import { resolveCredentials, type CredentialOptions } from './credentials.js';
import { HttpClient, type RetryPolicy } from './http.js';

export interface RegistryOptions extends CredentialOptions {
  insecureRegistries?: string[];
  cacheDir?: string;
  noCache?: boolean;
  /** Called with (layer index, bytes of that layer received so far, its size). */
  onProgress?: LayerProgress;
  /** Overrides the retry policy (tests shorten the waits). */
  retry?: RetryPolicy;
}

export async function openRegistryImage(ref: DockerReference, wanted: Platform, reference: string, options: RegistryOptions): Promise<Image> {
  const http = new HttpClient(options.retry);
  let credentials: Promise<Awaited<ReturnType<typeof resolveCredentials>>> | undefined;
  const client = new RegistryClient(ref, {
    http,
    insecureRegistries: options.insecureRegistries ?? [],
    credentials: () => (credentials ??= resolveCredentials(ref.registry, ref.repository, options)),
  });
  const tempDir = options.noCache ? await temporaryDirectory('infra-operator-blobs-') : undefined;
  const cache = new BlobCache(tempDir?.path ?? options.cacheDir ?? defaultCacheDir());
  const release = async () => {
    await tempDir?.remove();
  };
  try {
    const top = await client.manifest(ref.digest ?? ref.tag!);
    const read = documentReader(client, cache);
    const resolved = await resolveManifest({ ...top, name: reference }, wanted, read);
    const layers = resolved.manifest.layers;
    layers.forEach((layer, i) => assertLayerType(layer, `layer ${i + 1} (${layer.digest}) of ${reference}`));
    await fetchLayers(client, cache, layers, options.onProgress);
    return imageFrom(reference, resolved, (layer) => ({ file: cache.path(layer.digest), offset: 0, blobVerified: true }), tempDir ? release : undefined);
  } catch (err) {
    await release();
    throw err;
  } finally {
    await http.close();
  }
}

/** Nested indexes and manifests come from the manifests endpoint; configs are blobs. */
function documentReader(client: RegistryClient, cache: BlobCache): ReadDocument {
  return async (descriptor, what) => {
    if (INDEX_TYPES.includes(descriptor.mediaType) || MANIFEST_TYPES.includes(descriptor.mediaType)) {
      return (await client.manifest(descriptor.digest, descriptor)).bytes;
    }
    if (descriptor.size > MAX_DOCUMENT_SIZE) throw new InfraError('MANIFEST', `${what} declares ${descriptor.size} bytes, too large for a config`);
    return readFile(await fetchToCache(client, cache, descriptor, () => {}));
  };
}

/**
 * Downloads the layers in parallel (the client bounds it per host). The first failure
 * stops the others, and is what the caller sees once they have all stopped.
 */
async function fetchLayers(client: RegistryClient, cache: BlobCache, layers: Descriptor[], onProgress: LayerProgress | undefined): Promise<void> {
  const controller = new AbortController();
  let firstError: unknown;
  const results = await Promise.allSettled(
    layers.map((layer, i) =>
      fetchToCache(client, cache, layer, (bytes) => onProgress?.(i, bytes, layer.size), controller.signal).catch((err: unknown) => {
        firstError ??= err;
        controller.abort();
        throw err;
      }),
    ),
  );
  if (results.some((r) => r.status === 'rejected')) throw firstError;
}

/**
 * The cached blob, downloading it first unless an intact entry exists. All of it runs in
 * one of the host's transfer slots, so checking and filling the cache opens at most
 * PER_HOST_CONCURRENCY files, whatever the number of layers.
 */
function fetchToCache(
  client: RegistryClient,
  cache: BlobCache,
  descriptor: Descriptor,
  onBytes: (bytes: number) => void,
  signal?: AbortSignal,
): Promise<string> {
  return client.inTransferSlot(async () => {
    signal?.throwIfAborted();
    const cached = await cache.lookup(descriptor);
    if (cached) {
      onBytes(descriptor.size);
      return cached;
    }
    return cache.store(descriptor, (temp) => client.downloadBlob(descriptor, temp, onBytes, signal));
  });
}

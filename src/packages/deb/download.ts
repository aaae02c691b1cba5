/**
 * Fetching from Debian archives over HTTP(S) with the registry client's retries, proxies
 * and per-host limit (src/image/registry/http.ts). Every body is bounded by the size the
 * signed Release or Packages index declares, and checked against its SHA256 before use;
 * `.deb` files land in the blob cache under their digest (src/image/cache.ts).
 */
import type { FileHandle } from 'node:fs/promises';
import { InfraError } from '../../errors.js';
import { BlobCache } from '../../image/cache.js';
import { sha256Digest, verified } from '../../image/digest.js';
import { TransientError, isTransientStatus, readBody, withRetries, type HttpClient, type HttpResponse } from '../../image/registry/http.js';
import { field } from './deb822.js';
import type { DebStanza, ResolvedDeb } from './types.js';

/** What the signed metadata says a file must be. */
export interface Expected {
  size: number;
  /** sha256:HEX */
  digest: string;
}

/** Archive files are fetched this many at a time (the client limits each host further). */
const PARALLEL_DOWNLOADS = 4;

/** GETs `url`, its body at most `limit` bytes; 404 and 410 are NOT_FOUND. */
export async function fetchDocument(http: HttpClient, url: string, limit: number, what: string): Promise<Buffer> {
  const scope = { what: `fetching ${what} (${url})`, host: new URL(url).host, expectedBytes: limit };
  return withRetries(scope, http.retry, async (signal) => readBody(await get(http, url, what, signal), limit, what));
}

/** One GET that answered 200; other statuses become errors (transient ones retried by the caller). */
async function get(http: HttpClient, url: string, what: string, signal: AbortSignal): Promise<HttpResponse> {
  const res = await http.send(url, { signal });
  if (res.status === 200) return res;
  await res.body.dump();
  if (isTransientStatus(res.status)) throw new TransientError(`HTTP ${res.status}`);
  const code = res.status === 404 || res.status === 410 ? 'NOT_FOUND' : 'NETWORK';
  throw new InfraError(code, `${what} could not be fetched from ${url} (HTTP ${res.status}); check the repository URI and suite, or try again if the mirror is mid-update`);
}

/** Fetches a file whose size and digest the signed metadata gives, and checks both. */
export async function fetchVerified(http: HttpClient, url: string, expected: Expected, what: string): Promise<Buffer> {
  const data = await fetchDocument(http, url, expected.size, what);
  checkBytes(data, expected, what);
  return data;
}

export function checkBytes(data: Buffer, expected: Expected, what: string): void {
  const digest = sha256Digest(data);
  if (data.length !== expected.size || digest !== expected.digest) {
    throw new InfraError(
      'INTEGRITY',
      `${what} does not match the signed index (${data.length} bytes, ${digest}; expected ${expected.size} bytes, ${expected.digest}); the mirror may be mid-update: try again, or use another mirror`,
      { digest: expected.digest },
    );
  }
}

/** A package to download: its stanza and the archive root its Filename is relative to. */
export interface Download {
  stanza: DebStanza;
  uri: string;
}

/** Size and SHA256 of a stanza's `.deb`, as its Packages index declares them. */
export function debExpected(stanza: DebStanza): Expected & { filename: string } {
  const filename = field(stanza.fields, 'Filename');
  const size = Number(field(stanza.fields, 'Size'));
  const sha = field(stanza.fields, 'SHA256')?.toLowerCase();
  if (!filename || filename.split('/').includes('..') || filename.startsWith('/') || !Number.isSafeInteger(size) || size <= 0 || !sha || !/^[0-9a-f]{64}$/.test(sha)) {
    throw new InfraError('INPUT', `the index entry of ${stanza.package} ${stanza.version} lacks a usable Filename, Size or SHA256; the repository index is damaged`);
  }
  return { filename, size, digest: `sha256:${sha}` };
}

/**
 * Downloads each package's `.deb` into the cache (reusing intact entries), in the order
 * given, and reports each one done.
 */
export async function downloadDebs(http: HttpClient, cacheDir: string, downloads: readonly Download[], done?: (deb: ResolvedDeb, bytes: number) => void): Promise<ResolvedDeb[]> {
  const cache = new BlobCache(cacheDir);
  const results: ResolvedDeb[] = new Array(downloads.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < downloads.length) {
      const index = next++;
      const { stanza, uri } = downloads[index]!;
      const expected = debExpected(stanza);
      const what = `${stanza.package}_${stanza.version}_${stanza.architecture}.deb`;
      const file = (await cache.lookup(expected)) ?? (await cache.store(expected, (temp) => fetchToFile(http, `${uri}/${expected.filename}`, temp, expected, what)));
      results[index] = { stanza, file };
      done?.(results[index]!, expected.size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_DOWNLOADS, downloads.length) }, worker));
  return results;
}

/** Fetches into `file` (the cache's temporary file, left open for the cache to commit). */
async function fetchToFile(http: HttpClient, url: string, file: FileHandle, expected: Expected, what: string): Promise<void> {
  const scope = { what: `fetching ${what} (${url})`, host: new URL(url).host, expectedBytes: expected.size };
  await withRetries(scope, http.retry, async (signal) => {
    const res = await get(http, url, what, signal);
    await file.truncate(0);
    let position = 0;
    for await (const chunk of verified(res.body as AsyncIterable<Buffer>, expected, what)) {
      for (let done = 0; done < chunk.length; ) done += (await file.write(chunk, done, chunk.length - done, position + done)).bytesWritten;
      position += chunk.length;
    }
  });
}

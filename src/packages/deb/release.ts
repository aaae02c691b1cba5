/**
 * A repository's signed `InRelease` (Debian Repository Format, "Release files"): fetched,
 * verified against the source's keyring, checked for `Valid-Until`, and used to pick and
 * verify each component's `Packages` index (gzip, xz or plain: Debian's -updates and
 * -security suites publish xz only). Only what the signature covers is parsed.
 */
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { decompress } from '../../image/decompress.js';
import { InfraError } from '../../errors.js';
import type { HttpClient } from '../../image/registry/http.js';
import { verifyCleartext } from '../openpgp/cleartext.js';
import { readKeyring } from '../openpgp/keyring.js';
import { field, fieldLines, parseParagraphs, toStanza, type Paragraph } from './deb822.js';
import { checkBytes, fetchDocument, fetchVerified, type Expected } from './download.js';
import type { Source } from './sources.js';
import type { DebStanza } from './types.js';

/** Debian's InRelease is ~150 KB; anything near this is not a Release file. */
const MAX_INRELEASE_BYTES = 32 * 1024 * 1024;
/** An uncompressed Packages index larger than this is refused (bookworm main amd64: ~45 MB). */
const MAX_INDEX_BYTES = 1024 * 1024 * 1024;
/** Index forms in order of preference: node:zlib is fastest; Debian serves the plain file only where it lists no compressed one. */
const INDEX_SUFFIXES = ['.gz', '.xz', ''] as const;

export interface Release {
  paragraph: Paragraph;
  /** Path under `dists/SUITE/` → its size and SHA256. */
  files: Map<string, Expected>;
  /** `Acquire-By-Hash: yes`: indexes are also served under `by-hash/SHA256/HEX`. */
  byHash: boolean;
}

/** A package offered by a source. */
export interface Offer {
  stanza: DebStanza;
  /** The archive root that `Filename` is relative to. */
  uri: string;
}

function distsUrl(source: Source): string {
  return `${source.uri}/dists/${source.suite}`;
}

/** Fetches and verifies `dists/SUITE/InRelease`; `now` in seconds since the epoch. */
export async function readRelease(http: HttpClient, source: Source, now: number): Promise<Release> {
  const what = `the InRelease file of ${source.uri} ${source.suite}`;
  const keys = readKeyring(source.keyrings);
  if (keys.length === 0) {
    throw new InfraError('INPUT', `${what} cannot be verified: ${source.origin} has no usable signing keys in the base image; install the archive keyring into the base or set Signed-By`);
  }
  const message = await fetchDocument(http, `${distsUrl(source)}/InRelease`, MAX_INRELEASE_BYTES, what);
  const { text } = verifyCleartext(message, keys, now, what);
  return parseRelease(text, what, now);
}

function parseRelease(text: string, what: string, now: number): Release {
  const paragraph = parseParagraphs(text, what)[0];
  if (!paragraph) throw new InfraError('INPUT', `${what} is empty`);
  const validUntil = field(paragraph, 'Valid-Until');
  if (validUntil !== undefined) {
    const until = Date.parse(validUntil);
    if (!Number.isFinite(until)) throw new InfraError('INPUT', `${what} has an unreadable Valid-Until "${validUntil}"`);
    if (until / 1000 < now) {
      throw new InfraError('INTEGRITY', `${what} expired on ${new Date(until).toISOString()} (Valid-Until): the mirror is stale or replayed; use an up-to-date mirror`);
    }
  }
  const files = new Map<string, Expected>();
  for (const line of fieldLines(paragraph, 'SHA256')) {
    const m = /^([0-9a-f]{64})\s+(\d+)\s+(\S+)$/.exec(line);
    if (!m) throw new InfraError('INPUT', `${what} has a malformed SHA256 line "${line.slice(0, 100)}"`);
    files.set(m[3]!, { digest: `sha256:${m[1]}`, size: Number(m[2]) });
  }
  return { paragraph, files, byHash: field(paragraph, 'Acquire-By-Hash')?.toLowerCase() === 'yes' };
}

/** The packages of every component of `source` for `arch`, read through its verified Release. */
export async function readPackages(http: HttpClient, source: Source, release: Release, arch: string): Promise<Offer[]> {
  const offers: Offer[] = [];
  for (const component of source.components) {
    const base = `${component}/binary-${arch}/Packages`;
    const what = `${source.uri} ${source.suite} ${base}`;
    const plain = release.files.get(base);
    const suffix = INDEX_SUFFIXES.find((x) => release.files.has(`${base}${x}`));
    if (suffix === undefined) throw new InfraError('NOT_FOUND', `${what} is not listed in the signed Release file; check the component and architecture`);
    const path = `${base}${suffix}`;
    const data = await fetchIndex(http, source, release, path, release.files.get(path)!, what);
    const text = suffix === '' ? data : await inflate(data, suffix, plain, what);
    for (const p of parseParagraphs(text.toString('latin1'), what)) offers.push({ stanza: toStanza(p, what), uri: source.uri });
  }
  return offers;
}

/** By hash first where the archive offers it (no race with a mirror update), else by name. */
async function fetchIndex(http: HttpClient, source: Source, release: Release, path: string, expected: Expected, what: string): Promise<Buffer> {
  const byName = `${distsUrl(source)}/${path}`;
  if (!release.byHash) return fetchVerified(http, byName, expected, what);
  const dir = path.slice(0, path.lastIndexOf('/'));
  const byHash = `${distsUrl(source)}/${dir}/by-hash/SHA256/${expected.digest.slice('sha256:'.length)}`;
  return fetchVerified(http, byHash, expected, what).catch((err: unknown) => {
    if (err instanceof InfraError && err.code === 'NOT_FOUND') return fetchVerified(http, byName, expected, what);
    throw err;
  });
}

/**
 * Decompresses with a bound: the uncompressed size the Release states (then checked), else
 * MAX_INDEX_BYTES.
 */
async function inflate(data: Buffer, suffix: '.gz' | '.xz', uncompressed: Expected | undefined, what: string): Promise<Buffer> {
  const limit = Math.min(uncompressed?.size ?? MAX_INDEX_BYTES, MAX_INDEX_BYTES);
  const text = await (suffix === '.gz' ? promisify(gunzip)(data, { maxOutputLength: Math.max(limit, 1) }) : unxz(data, limit, what)).catch((err: Error) => {
    throw new InfraError('INTEGRITY', `${what} does not decompress within ${limit} bytes (${err.message}); the index is damaged`, { cause: err });
  });
  if (uncompressed) checkBytes(text, uncompressed, `${what} (uncompressed)`);
  return text;
}

/** xz through the one decompressor (src/image/decompress.ts), stopped as soon as it passes `limit`. */
async function unxz(data: Buffer, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of decompress(Readable.from([data]), undefined, what)) {
    size += chunk.length;
    if (size > limit) throw new Error(`more than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

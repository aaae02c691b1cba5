/**
 * One repository on one registry (distribution-spec "Pull"): `/v2/` ping and scheme
 * choice, manifests by tag or digest, blobs streamed to a file with Range resumption.
 */
import type { FileHandle } from 'node:fs/promises';
import { escapeControls, InfraError } from '../../errors.js';
import { DigestCounter } from '../../io/digest.js';
import { sha256Digest } from '../digest.js';
import { type Descriptor, INDEX_TYPES, MANIFEST_TYPES, MAX_DOCUMENT_SIZE } from '../media.js';
import { apiHost, type DockerReference, formatDockerReference, isLoopback } from '../reference.js';
import { Authenticator } from './auth.js';
import type { Credentials } from './credentials.js';
import {
  header,
  type HttpClient,
  type HttpResponse,
  isCertificateError,
  isTransientStatus,
  parseRetryAfter,
  readBody,
  TransientError,
  withRetries,
} from './http.js';

/** Manifest types we accept, OCI first (distribution answers 404 for OCI ones not accepted). */
const ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ');

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType?: string;
}

export interface RegistryClientOptions {
  http: HttpClient;
  credentials: () => Promise<Credentials | undefined>;
  /** Registries (host[:port]) where plain HTTP and unverified TLS are allowed. */
  insecureRegistries: string[];
}

export class RegistryClient {
  private base: string | undefined;
  private readonly host: string;
  private readonly insecure: boolean;
  private readonly auth: Authenticator;
  private readonly scope: string;
  readonly name: string;

  constructor(
    readonly ref: DockerReference,
    private readonly options: RegistryClientOptions,
  ) {
    this.host = apiHost(ref.registry);
    this.insecure = options.insecureRegistries.includes(ref.registry) || options.insecureRegistries.includes(this.host);
    this.auth = new Authenticator(options.http, this.host, options.credentials, this.insecure);
    this.scope = `repository:${ref.repository}:pull`;
    this.name = `docker://${formatDockerReference(ref)}`;
  }

  private get http(): HttpClient {
    return this.options.http;
  }

  /**
   * Finds the scheme (HTTPS, then plain HTTP only for loopback or insecure registries) and
   * the authentication challenge, from `GET /v2/`.
   */
  async ping(signal?: AbortSignal): Promise<void> {
    const schemes = this.insecure || isLoopback(this.ref.registry) ? ['https', 'http'] : ['https'];
    await withRetries({ what: `contacting ${this.host}`, host: this.host, ...(signal ? { signal } : {}) }, this.http.retry, async (signal) => {
      let lastError: unknown;
      for (const scheme of schemes) {
        try {
          await this.pingOnce(`${scheme}://${this.host}`, signal);
          return;
        } catch (err) {
          if (err instanceof InfraError || err instanceof TransientError) throw err;
          if (isCertificateError(err) && !this.insecure) throw this.tlsError(err);
          lastError = err;
        }
      }
      throw lastError;
    });
  }

  private tlsError(err: unknown): InfraError {
    return new InfraError(
      'NETWORK',
      `TLS to ${this.host} failed: ${escapeControls((err as Error).message)}.`,
      {
        cause: err,
        option: 'insecureRegistry',
        hint: `if the registry uses a private CA, point NODE_EXTRA_CA_CERTS at its certificate; for a test registry, {insecureRegistry} ${this.ref.registry}`,
      },
    );
  }

  private async pingOnce(base: string, signal: AbortSignal): Promise<void> {
    const res = await this.http.send(`${base}/v2/`, { insecureTls: this.insecure, signal });
    await res.body.dump();
    if (res.status === 200 || res.status === 401) {
      this.base = base;
      this.auth.setChallenge(res.status === 401 ? header(res, 'www-authenticate') : undefined, base);
      return;
    }
    if (isTransientStatus(res.status)) throw transient(res, `GET ${base}/v2/`);
    throw new InfraError('NETWORK', `${base}/v2/ answered HTTP ${res.status}: ${this.host} does not look like a container registry`);
  }

  /** A request with authentication, answering one 401 by authenticating again. */
  private async call(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<HttpResponse> {
    if (!this.base) await this.ping(signal);
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.auth.authorization(this.scope, signal);
      const res = await this.http.send(`${this.base}${path}`, {
        headers: authorization ? { ...headers, authorization } : headers,
        insecureTls: this.insecure,
        signal,
      });
      if (res.status !== 401 || attempt > 0) return res;
      await res.body.dump();
      this.auth.refused(this.scope, header(res, 'www-authenticate'));
    }
  }

  /** Turns an unsuccessful response into the error a user can act on. */
  private async failure(res: HttpResponse, what: string): Promise<Error> {
    const body = escapeControls((await readBody(res, 64 << 10, what).catch(() => Buffer.alloc(0))).toString().trim().slice(0, 300));
    if (isTransientStatus(res.status)) return transient(res, what);
    if (res.status === 401 || res.status === 403) {
      return new InfraError('AUTH', `${this.name}: access denied to ${what} (HTTP ${res.status}).`, {
        option: 'creds',
        hint: `log in (docker login ${this.ref.registry}) or pass {creds} user:pass`,
      });
    }
    if (res.status === 404) return new InfraError('NOT_FOUND', `${this.name}: ${what} not found; check the repository name and tag`);
    return new InfraError('NETWORK', `${this.name}: ${what} answered HTTP ${res.status} ${body}`);
  }

  /**
   * A manifest the registry does not have: is the whole repository missing, or only this
   * tag or digest? NAME_UNKNOWN says the former (distribution-spec error codes); Debian's
   * docker-registry (distribution 2.8) answers MANIFEST_UNKNOWN for both, so its tags
   * list, which answers NAME_UNKNOWN for a repository it does not have, decides.
   */
  private async manifestMissing(res: HttpResponse, what: string, signal: AbortSignal): Promise<InfraError> {
    let repositoryMissing = (await errorCodes(res)).includes('NAME_UNKNOWN');
    if (!repositoryMissing) {
      // One more request, only to word the error: if it fails, the plainer wording stands.
      const tags = await this.call(`/v2/${this.ref.repository}/tags/list?n=1`, {}, signal).catch(() => undefined);
      if (tags?.status === 404) repositoryMissing = (await errorCodes(tags)).includes('NAME_UNKNOWN');
      else await tags?.body.dump();
    }
    if (repositoryMissing) {
      return new InfraError('NOT_FOUND', `${this.name}: the repository ${this.ref.repository} does not exist on ${this.ref.registry}.`, {
        hint: 'check the repository name (on Docker Hub, images outside library/ take their namespace: NAMESPACE/NAME)',
      });
    }
    return new InfraError('NOT_FOUND', `${this.name}: ${what} not found in the repository ${this.ref.repository}.`, {
      hint: 'check the tag or digest (the repository exists)',
    });
  }

  /** `GET /v2/NAME/manifests/REF`, verified against the digest when addressed by one. */
  async manifest(reference: string, expected?: Pick<Descriptor, 'digest' | 'size'>): Promise<FetchedManifest> {
    const what = reference.includes(':') ? `manifest ${reference}` : `tag "${reference}"`;
    // A tag's manifest has no declared size: allow for the largest we would read.
    const scope = { what: `${this.name}: ${what}`, host: this.host, expectedBytes: expected?.size ?? MAX_DOCUMENT_SIZE };
    return this.http.limiter.run(this.host, () =>
      withRetries(scope, this.http.retry, async (signal) => {
        const res = await this.call(`/v2/${this.ref.repository}/manifests/${reference}`, { accept: ACCEPT }, signal);
        if (res.status === 404) throw await this.manifestMissing(res, what, signal);
        if (res.status !== 200) throw await this.failure(res, what);
        const bytes = await readBody(res, MAX_DOCUMENT_SIZE, `${this.name}: ${what}`);
        const digest = sha256Digest(bytes);
        const served = header(res, 'docker-content-digest');
        const wanted = expected?.digest ?? (reference.includes(':') ? reference : served);
        if (wanted && wanted.startsWith('sha256:') && wanted !== digest) {
          throw new InfraError('INTEGRITY', `${this.name}: ${what} has digest ${digest}, not ${escapeControls(wanted)}; the registry or a proxy altered it`);
        }
        if (expected && expected.size !== bytes.length) {
          throw new InfraError('INTEGRITY', `${this.name}: ${what} is ${bytes.length} bytes, not the ${expected.size} its index declares`);
        }
        const mediaType = header(res, 'content-type');
        return mediaType ? { bytes, digest, mediaType } : { bytes, digest };
      }),
    );
  }

  /**
   * One of this host's transfer slots (at most PER_HOST_CONCURRENCY at once) for `task`,
   * which should open its files inside it: however many layers an image has, only that
   * many are open at once.
   */
  inTransferSlot<T>(task: () => Promise<T>): Promise<T> {
    return this.http.limiter.run(this.host, task);
  }

  /**
   * Downloads a blob into `handle` (open for writing, empty), hashing as bytes arrive; an
   * interrupted or short body is resumed with `Range` (skopeo's body_reader does the same). Throws INTEGRITY unless
   * size and digest match the descriptor. `signal` stops it (another download failed).
   * Call it inside `inTransferSlot`.
   */
  async downloadBlob(descriptor: Descriptor, handle: FileHandle, onBytes: (received: number) => void, signal?: AbortSignal): Promise<void> {
    const what = `blob ${descriptor.digest}`;
    const scope = { what: `${this.name}: ${what}`, host: this.host, expectedBytes: descriptor.size, ...(signal ? { signal } : {}) };
    let counter = new DigestCounter();
    await withRetries(scope, this.http.retry, async (signal) => {
      signal.throwIfAborted();
      const resumeAt = counter.bytes;
      if (resumeAt === descriptor.size) return;
      const range: Record<string, string> = resumeAt > 0 ? { range: `bytes=${resumeAt}-` } : {};
      const res = await this.call(`/v2/${this.ref.repository}/blobs/${descriptor.digest}`, range, signal);
      if (res.status !== 200 && res.status !== 206) throw await this.failure(res, what);
      if (res.status === 200 || !contentRangeStartsAt(header(res, 'content-range'), resumeAt)) {
        // The server ignored the Range: start over.
        counter.drop();
        counter = new DigestCounter();
        await handle.truncate(0);
      }
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (counter.bytes + chunk.length > descriptor.size) {
          res.body.destroy();
          throw new InfraError('INTEGRITY', `${this.name}: ${what} is longer than the ${descriptor.size} bytes its manifest declares`);
        }
        await handle.write(chunk, 0, chunk.length, counter.bytes);
        await counter.update(chunk);
        onBytes(counter.bytes);
      }
      if (counter.bytes < descriptor.size) throw new TransientError(`${what} ended after ${counter.bytes} of ${descriptor.size} bytes`);
    });
    const digest = await counter.digest();
    if (digest !== descriptor.digest) {
      throw new InfraError('INTEGRITY', `${this.name}: ${what} arrived with digest ${digest}; it was corrupted in transit or on the registry. Try again`);
    }
  }
}

/** The `code`s of a distribution-spec error body (`{"errors":[{"code":…}]}`); none when it is not one. */
async function errorCodes(res: HttpResponse): Promise<string[]> {
  const body = await readBody(res, 64 << 10, 'an error body').catch(() => Buffer.alloc(0));
  try {
    const { errors } = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(errors)) return [];
    return errors.map((e: unknown) => (typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined)).filter((c): c is string => typeof c === 'string');
  } catch {
    return [];
  }
}

function contentRangeStartsAt(value: string | undefined, offset: number): boolean {
  const m = /^bytes (\d+)-/.exec(value ?? '');
  return m !== null && Number(m[1]) === offset;
}

function transient(res: HttpResponse, what: string): TransientError {
  // Docker Hub's pull limit: say so, since logging in raises it.
  const limit = header(res, 'ratelimit-limit');
  const limited = res.status === 429 ? ` (rate limited${limit ? `: ${escapeControls(limit)}` : ''}; logging in may raise the limit)` : '';
  return new TransientError(`${what}: HTTP ${res.status}${limited}`, parseRetryAfter(header(res, 'retry-after')));
}

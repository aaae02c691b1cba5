/**
 * HTTP for registries, on undici: proxies from HTTP(S)_PROXY/NO_PROXY (EnvHttpProxyAgent),
 * the system CAs plus NODE_EXTRA_CA_CERTS read when the agent is made (so a CA named after
 * startup still counts), redirects followed by hand so that Authorization is dropped when
 * the host changes (S3 and CDNs reject a second credential), retries with backoff and
 * jitter honouring Retry-After, and a per-host concurrency limit.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { InfraError } from '../../errors.js';

export type Headers = Record<string, string>;

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects. */
  url: string;
}

/** Statuses worth another try (distribution-spec clients; RFC 9110 for 408/429). */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** A failure that another attempt may cure; `retryAfterMs` comes from the server. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 15_000 };
/** A Retry-After longer than this is not worth waiting for in an interactive pull. */
const MAX_RETRY_AFTER_MS = 60_000;
const MAX_REDIRECTS = 5;
export const PER_HOST_CONCURRENCY = 4;

/** `Retry-After`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/** Full jitter over an exponential backoff, but never sooner than the server asked. */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  const jittered = ceiling / 2 + Math.random() * (ceiling / 2);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered / 4);
}

/** Network-level failures (reset, refused, timeouts, truncated bodies) are transient. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

export function isNetworkError(err: unknown): boolean {
  return !(err instanceof InfraError) && TRANSIENT_CODES.has((err as { code?: string }).code ?? '');
}

/** Local disk trouble while storing a download is not the network's fault. */
const DISK_CODES = new Set(['ENOSPC', 'EACCES', 'EROFS', 'EDQUOT', 'EPERM']);

/** Whatever escaped as a plain Error, as the InfraError a user can act on. */
function asInfraError(err: unknown, what: string): InfraError {
  if (err instanceof InfraError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (DISK_CODES.has(code)) {
    return new InfraError('DISK', `${what}: cannot write to disk (${(err as Error).message}); free space or choose another cache directory`, { cause: err });
  }
  return new InfraError('NETWORK', `${what} failed: ${(err as Error).message}. Check the registry address and the network`, { cause: err });
}

/** Certificate verification failures (not a plain-HTTP server answering a TLS hello). */
export function isCertificateError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_/.test(code);
}

/**
 * Runs `attempt` until it succeeds, throws a non-transient error, or has failed
 * `policy.attempts` times. Resumable work (blob downloads) keeps its own position.
 */
export async function withRetries<T>(what: string, policy: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await attempt();
    } catch (err) {
      const transient = err instanceof TransientError || isNetworkError(err);
      if (!transient) throw asInfraError(err, what);
      if (failures + 1 >= policy.attempts) {
        throw new InfraError('NETWORK', `${what} failed ${policy.attempts} times, last: ${(err as Error).message}. Check the network or the registry's status and try again`, { cause: err });
      }
      await sleep(backoffDelay(failures, policy, err instanceof TransientError ? err.retryAfterMs : undefined));
    }
  }
}

/** Counting semaphore: at most `limit` operations per host at once. */
class HostLimiter {
  private readonly active = new Map<string, number>();
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(private readonly limit: number) {}

  async run<T>(host: string, task: () => Promise<T>): Promise<T> {
    while ((this.active.get(host) ?? 0) >= this.limit) {
      await new Promise<void>((resolve) => this.queue(host).push(resolve));
    }
    this.active.set(host, (this.active.get(host) ?? 0) + 1);
    try {
      return await task();
    } finally {
      this.active.set(host, this.active.get(host)! - 1);
      this.queue(host).shift()?.();
    }
  }

  private queue(host: string): Array<() => void> {
    let q = this.waiting.get(host);
    if (!q) this.waiting.set(host, (q = []));
    return q;
  }
}

/** System CAs plus the file in NODE_EXTRA_CA_CERTS, read now. */
function trustedCAs(): string[] {
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (!extra) return [...rootCertificates];
  try {
    return [...rootCertificates, readFileSync(extra, 'utf8')];
  } catch (err) {
    throw new InfraError('INPUT', `NODE_EXTRA_CA_CERTS names ${extra}, which cannot be read (${(err as Error).message})`);
  }
}

export interface SendOptions {
  method?: 'GET' | 'HEAD';
  headers?: Headers;
  /** Skip certificate verification (only for hosts the user declared insecure). */
  insecureTls?: boolean;
  signal?: AbortSignal;
}

export class HttpClient {
  private verifying?: Dispatcher;
  private unverified?: Dispatcher;
  readonly limiter = new HostLimiter(PER_HOST_CONCURRENCY);

  constructor(
    readonly retry: RetryPolicy = DEFAULT_RETRY,
    private readonly timeoutMs = 60_000,
  ) {}

  private dispatcher(insecureTls: boolean): Dispatcher {
    const tls = insecureTls ? { rejectUnauthorized: false } : { ca: trustedCAs() };
    const make = () =>
      new EnvHttpProxyAgent({ connect: tls, requestTls: tls, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    if (insecureTls) return (this.unverified ??= make());
    return (this.verifying ??= make());
  }

  /** One request, following redirects; Authorization is only sent to the original host. */
  async send(url: string, options: SendOptions = {}): Promise<HttpResponse> {
    let current = new URL(url);
    const origin = current.host;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers = { ...options.headers };
      if (current.host !== origin) delete headers.authorization;
      const res = await request(current, {
        method: options.method ?? 'GET',
        headers,
        dispatcher: this.dispatcher(options.insecureTls === true && current.host === origin),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && typeof location === 'string') {
        await res.body.dump();
        current = new URL(location, current);
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url: current.toString() };
    }
    throw new InfraError('NETWORK', `${url} redirected more than ${MAX_REDIRECTS} times; the registry is misconfigured`);
  }

  async close(): Promise<void> {
    await Promise.all([this.verifying?.close(), this.unverified?.close()]);
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a response body up to `limit` bytes (documents, error bodies, tokens). */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.body.destroy();
      throw new InfraError('MANIFEST', `${what} is larger than ${limit} bytes; refusing to read it`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

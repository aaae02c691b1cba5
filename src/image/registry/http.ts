/**
 * HTTP for registries, on undici: proxies from HTTP(S)_PROXY/NO_PROXY (EnvHttpProxyAgent),
 * the system CAs plus NODE_EXTRA_CA_CERTS read when the agent is made (so a CA named after
 * startup still counts), redirects followed by hand so that Authorization only goes back to
 * the origin that was asked (S3 and CDNs reject a second credential, and a plain-HTTP hop
 * must not see it), retries with backoff and jitter honouring Retry-After, an overall
 * deadline per request, and a per-host concurrency limit.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { escapeControls, InfraError } from '../../errors.js';

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

/**
 * Every request's overall deadline, retries included (docs/sources.md, "Deadlines"): a
 * floor for round trips and backoff, plus the expected bytes at a slow but honest rate.
 * Idle timeouts alone let a server that trickles a byte at a time hold a pull forever.
 */
const DEADLINE_FLOOR_MS = 60_000;
const HONEST_BYTES_PER_SECOND = 64 << 10;
export const DEADLINE_SCALE_ENV = 'INFRA_OPERATOR_HTTP_DEADLINE_SCALE';
/** Node fires longer timers at once (TimeoutOverflowWarning); a hostile size must not. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The deadline in ms for a request expecting `expectedBytes`, scaled by the environment. */
export function deadlineMs(expectedBytes: number): number {
  const ms = (DEADLINE_FLOOR_MS + (expectedBytes / HONEST_BYTES_PER_SECOND) * 1000) * deadlineScale();
  return Math.min(Math.ceil(ms), MAX_TIMER_MS);
}

function deadlineScale(): number {
  const raw = process.env[DEADLINE_SCALE_ENV];
  if (raw === undefined || raw === '') return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new InfraError('INPUT', `${DEADLINE_SCALE_ENV} is "${escapeControls(raw)}"; set it to a positive number (1 = the documented deadlines) or unset it`);
  }
  return scale;
}

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
    return new InfraError('DISK', `${what}: cannot write to disk (${escapeControls((err as Error).message)}); free space or choose another cache directory`, { cause: err });
  }
  return new InfraError('NETWORK', `${what} failed: ${escapeControls((err as Error).message)}. Check the registry address and the network`, { cause: err });
}

/** Certificate verification failures (not a plain-HTTP server answering a TLS hello). */
export function isCertificateError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_/.test(code);
}

/** One logical request: what it fetches (for messages), from which host, and how much. */
export interface RequestScope {
  what: string;
  host: string;
  /** Bytes the answer should hold, when known (the deadline grows with them). */
  expectedBytes?: number;
  /** Stops the request from outside (another download failed, or an enclosing deadline). */
  signal?: AbortSignal;
}

/**
 * Runs `attempt` until it succeeds, throws a non-transient error, has failed
 * `policy.attempts` times, or the scope's deadline passes (`attempt` gets the signal that
 * fires then, and must hand it to its requests). Resumable work (blob downloads) keeps
 * its own position.
 */
export async function withRetries<T>(scope: RequestScope, policy: RetryPolicy, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const limitMs = deadlineMs(scope.expectedBytes ?? 0);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), limitMs);
  const signal = scope.signal ? AbortSignal.any([scope.signal, deadline.signal]) : deadline.signal;
  // A nested request's deadline error (the ping inside a manifest request) already names
  // what was awaited: pass it on.
  const stopped = (err: unknown) =>
    err instanceof DeadlineError ? err : deadline.signal.aborted ? new DeadlineError(scope, limitMs, err) : asInfraError(err, scope.what);
  try {
    for (let failures = 0; ; failures++) {
      try {
        return await attempt(signal);
      } catch (err) {
        if (signal.aborted) throw stopped(err);
        const transient = err instanceof TransientError || isNetworkError(err);
        if (!transient) throw asInfraError(err, scope.what);
        if (failures + 1 >= policy.attempts) {
          throw new InfraError('NETWORK', `${scope.what} failed ${policy.attempts} times, last: ${escapeControls((err as Error).message)}. Check the network or the registry's status and try again`, { cause: err });
        }
        await sleep(backoffDelay(failures, policy, err instanceof TransientError ? err.retryAfterMs : undefined), undefined, { signal }).catch(() => {});
        if (signal.aborted) throw stopped(signal.reason);
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The deadline of one request passed; names the host and what was awaited. */
class DeadlineError extends InfraError {
  constructor(scope: RequestScope, limitMs: number, cause: unknown) {
    const seconds = Math.round(limitMs / 100) / 10;
    super(
      'NETWORK',
      `${scope.what}: gave up waiting for ${scope.host} after ${seconds} s${scope.expectedBytes ? ` (the time allowed for ${scope.expectedBytes} bytes)` : ''}; the registry is stalled or too slow. Try again later, or raise ${DEADLINE_SCALE_ENV} for a slow link`,
      { cause },
    );
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

  /**
   * One request, following redirects. Authorization goes only to the origin asked (scheme,
   * host and port: `URL.host` alone drops default ports, so https://h and http://h would
   * match), so credentials from an HTTPS registry never travel in cleartext.
   */
  async send(url: string, options: SendOptions = {}): Promise<HttpResponse> {
    let current = new URL(url);
    const origin = current.origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameOrigin = current.origin === origin;
      const headers = { ...options.headers };
      if (!sameOrigin) delete headers.authorization;
      const pending = request(current, {
        method: options.method ?? 'GET',
        headers,
        dispatcher: this.dispatcher(options.insecureTls === true && sameOrigin),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const res = await untilAborted(pending, options.signal);
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

  /** Drops every connection at once: one still connecting past its deadline must not hold the process. */
  async close(): Promise<void> {
    await Promise.all([this.verifying?.destroy(), this.unverified?.destroy()]);
  }
}

/**
 * undici defers an abort until the request has a connection, so a server that accepts and
 * never completes the TLS handshake would hold the caller until the connect timeout. The
 * caller gets the abort now; a late answer is discarded (close() ends a late connect).
 */
function untilAborted(pending: Promise<Dispatcher.ResponseData>, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
  if (!signal) return pending;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      pending.then((late) => late.body.destroy(), () => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
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

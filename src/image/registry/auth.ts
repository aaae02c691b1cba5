/**
 * Registry authentication (distribution "token authentication specification", RFC 7235
 * challenges): `Basic` (htpasswd registries, ECR) sends the credentials on every request;
 * `Bearer` trades them at the realm for a token scoped to `repository:NAME:pull`, cached per
 * (realm, service, scope) until shortly before it expires and fetched again after a 401.
 * Credentials never leave an HTTPS registry for a plain-HTTP realm.
 */
import { escapeControls, InfraError } from '../../errors.js';
import type { Credentials } from './credentials.js';
import { HttpClient, isTransientStatus, readBody, TransientError, withRetries } from './http.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate value, which may hold several challenges (RFC 7235 §4.1). */
export function parseChallenges(value: string): Challenge[] {
  const challenges: Challenge[] = [];
  const token = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)/y;
  let pos = 0;
  const skip = (re: RegExp) => {
    re.lastIndex = pos;
    const m = re.exec(value);
    if (m) pos = re.lastIndex;
    return m;
  };
  while (pos < value.length) {
    skip(/[\s,]*/y);
    const scheme = skip(token);
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme[1]!.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      const save = pos;
      skip(/[\s,]*/y);
      const key = skip(/([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*/y);
      if (!key) {
        pos = save;
        break;
      }
      const quoted = skip(/"((?:[^"\\]|\\.)*)"/y);
      const bare = quoted ? null : skip(/([^\s,]*)/y);
      challenge.params[key[1]!.toLowerCase()] = quoted ? quoted[1]!.replace(/\\(.)/g, '$1') : bare![1]!;
    }
  }
  return challenges;
}

/** The challenge to answer: Bearer when offered (it scopes access), else Basic. */
export function pickChallenge(value: string | undefined): Challenge | undefined {
  if (!value) return undefined;
  const all = parseChallenges(value);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** The token spec's default lifetime when `expires_in` is absent, and the floor we trust. */
const MIN_TOKEN_LIFETIME_S = 60;
/** Renew this long before the stated expiry so a long request does not outlive its token. */
const EXPIRY_MARGIN_MS = 10_000;
const MAX_TOKEN_RESPONSE = 1 << 20;

export class Authenticator {
  private challenge: Challenge | undefined;
  /** The registry's base URL the challenge came from (its scheme decides about cleartext). */
  private base: URL | undefined;
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly http: HttpClient,
    private readonly registry: string,
    private readonly credentials: () => Promise<Credentials | undefined>,
    private readonly insecureTls: boolean,
  ) {}

  /** Takes the challenge of a 401 from the registry at `base` (`https://host`). */
  setChallenge(value: string | undefined, base: string): void {
    const picked = pickChallenge(value);
    if (picked) this.challenge = picked;
    this.base = new URL(base);
  }

  /** Authorization header value for `scope`, or undefined when the registry asked for none. */
  async authorization(scope: string, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const creds = await this.credentials();
      return creds && `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    const key = this.tokenKey(challenge, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    const fresh = await this.fetchToken(challenge, scope, signal);
    this.tokens.set(key, fresh);
    return `Bearer ${fresh.token}`;
  }

  /** After a 401: take the new challenge and forget the token that was refused. */
  refused(scope: string, wwwAuthenticate: string | undefined): void {
    if (this.challenge) this.tokens.delete(this.tokenKey(this.challenge, scope));
    const picked = pickChallenge(wwwAuthenticate);
    if (picked) this.challenge = picked;
  }

  private tokenKey(challenge: Challenge, scope: string): string {
    return `${challenge.params.realm ?? ''}\n${challenge.params.service ?? ''}\n${scope}`;
  }

  private async fetchToken(challenge: Challenge, scope: string, signal: AbortSignal | undefined): Promise<CachedToken> {
    const url = this.realmUrl(challenge);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', scope);
    const creds = await this.credentials();
    if (creds && this.wouldLeak(url)) {
      throw new InfraError(
        'AUTH',
        `${this.registry} is served over HTTPS but sends its token requests to ${url.origin}, plain HTTP; refusing to send the credentials in cleartext. Ask the registry's operator to serve the token realm over HTTPS`,
      );
    }
    const headers: Record<string, string> = {};
    if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    const what = `token request to ${url.origin}${url.pathname}`;
    const body = await withRetries({ what, host: url.host, ...(signal ? { signal } : {}) }, this.http.retry, async (signal) => {
      const res = await this.http.send(url.toString(), { headers, insecureTls: this.insecureTls && url.host === this.registry, signal });
      if (isTransientStatus(res.status)) {
        await res.body.dump();
        throw new TransientError(`${what}: HTTP ${res.status}`);
      }
      if (res.status === 401 || res.status === 403) {
        await res.body.dump();
        throw creds
          ? new InfraError('AUTH', `${this.registry} refused the credentials for ${scope} (HTTP ${res.status}).`, {
              option: 'creds',
              hint: `check {creds}, {authfile} or \`docker login ${this.registry}\``,
            })
          : new InfraError('AUTH', `${this.registry} requires credentials for ${scope}.`, {
              option: 'creds',
              hint: `pass {creds} user:pass or run \`docker login ${this.registry}\``,
            });
      }
      if (res.status !== 200) {
        await res.body.dump();
        throw new InfraError('AUTH', `${what} answered HTTP ${res.status}`);
      }
      return readBody(res, MAX_TOKEN_RESPONSE, what);
    });
    return parseTokenResponse(body, what);
  }

  private realmUrl(challenge: Challenge): URL {
    const realm = challenge.params.realm;
    if (!realm) throw new InfraError('AUTH', `${this.registry} asked for a Bearer token but named no realm to get it from`);
    const url = URL.canParse(realm) ? new URL(realm) : undefined;
    if (url?.protocol !== 'https:' && url?.protocol !== 'http:') {
      throw new InfraError('AUTH', `${this.registry} named "${escapeControls(realm)}" as its token realm, which is not an http(s) URL; the registry is misconfigured`);
    }
    return url;
  }

  /**
   * Plain HTTP is for registries that are plain HTTP themselves (loopback, or declared
   * with --insecure-registry); an HTTPS registry's credentials must not be sent to one.
   */
  private wouldLeak(target: URL): boolean {
    return target.protocol === 'http:' && this.base?.protocol !== 'http:';
  }
}

/** Token response (distribution token spec): `token` and/or `access_token`, `expires_in` seconds. */
function parseTokenResponse(body: Buffer, what: string): CachedToken {
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(body.toString()) as typeof parsed;
  } catch {
    throw new InfraError('AUTH', `${what} did not answer JSON; is the realm a registry token service?`);
  }
  const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || !token) throw new InfraError('AUTH', `${what} answered without a token`);
  const lifetime = Math.max(typeof parsed.expires_in === 'number' ? parsed.expires_in : 0, MIN_TOKEN_LIFETIME_S);
  return { token, expiresAt: Date.now() + lifetime * 1000 - EXPIRY_MARGIN_MS };
}

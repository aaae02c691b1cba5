/**
 * Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, stopped at teardown:
 * plain HTTP, TLS with a self-signed certificate, htpasswd Basic auth, or Bearer tokens
 * from a token service of our own (distribution's `auth: token`, JWTs signed RS256 with a
 * key whose certificate is the registry's `rootcertbundle`; the certificate travels in the
 * JWT header's `x5c`). And a registry of our own over a layout directory, for hostile
 * behaviour a real registry never shows.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from './env.js';

interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export interface RegistryOptions {
  tls?: boolean;
  /** htpasswd Basic auth with this user. */
  basic?: { user: string; password: string };
  /** Bearer token auth through our token service. */
  token?: TokenServiceOptions;
}

export interface TokenServiceOptions {
  /** Accepted credentials; anonymous requests get `pull` only when `anonymousPull`. */
  user: string;
  password: string;
  anonymousPull: boolean;
}

export interface TokenRequest {
  scope: string | null;
  service: string | null;
  user?: string;
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  /** Self-signed CA/certificate (PEM) when TLS, and a skopeo cert dir holding it as ca.crt. */
  caFile?: string;
  certDir?: string;
  /** Token requests seen by the token service, in order. */
  tokenRequests: TokenRequest[];
  /** Set N: the next N tokens grant nothing (as a stale token would), forcing a renewal. */
  uselessTokens: number;
}

/** Environment variables a subtest changes (credentials, CAs, deadlines), restored afterwards. */
export function withEnv(t: Teardown, vars: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  t.teardown(() => apply(saved));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1/localhost (subjectAltName is mandatory for Go and Node). */
export function selfSignedCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}

export async function startRegistry(t: Teardown, options: RegistryOptions = {}): Promise<RunningRegistry> {
  const dir = tempDir(t, 'infra-op-registry-');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const running: RunningRegistry = { host, url: `${options.tls ? 'https' : 'http'}://${host}`, tokenRequests: [], uselessTokens: 0 };
  const lines = [
    'version: 0.1',
    'log: {level: error}',
    `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}}`,
  ];
  const http = [`  addr: ${host}`];
  if (options.tls) {
    const { cert, key } = selfSignedCert(dir, 'registry');
    http.push(`  tls: {certificate: ${cert}, key: ${key}}`);
    running.caFile = cert;
    running.certDir = join(dir, 'certs');
    mkdirSync(running.certDir);
    writeFileSync(join(running.certDir, 'ca.crt'), readFileSync(cert));
  }
  lines.push('http:', ...http);
  if (options.basic) {
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', options.basic.user, options.basic.password]));
    lines.push(`auth: {htpasswd: {realm: test, path: ${htpasswd}}}`);
  }
  if (options.token) {
    const service = await startTokenService(t, dir, options.token, running);
    lines.push(`auth: {token: {realm: "${service.realm}", service: ${TOKEN_SERVICE}, issuer: ${TOKEN_ISSUER}, rootcertbundle: ${service.cert}}}`);
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  t.teardown(() => stopChild(child));
  await waitReady(running.url, child, () => stderr);
  return running;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
}

async function waitReady(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr()}`);
    const status = await probe(`${url}/v2/`).catch(() => 0);
    if (status === 200 || status === 401) return;
    await sleep(50);
  }
  throw new Error(`docker-registry did not answer on ${url} within 15 s: ${stderr()}`);
}

function probe(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const TOKEN_SERVICE = 'infra-op-test-registry';
const TOKEN_ISSUER = 'infra-op-test-issuer';

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * The token endpoint of distribution's token auth spec: `GET /token?service=&scope=`,
 * Basic credentials optional; answers `{token, access_token, expires_in}`.
 */
async function startTokenService(t: Teardown, dir: string, options: TokenServiceOptions, running: RunningRegistry): Promise<{ realm: string; cert: string }> {
  const log = running.tokenRequests;
  const { cert, key } = selfSignedCert(dir, 'token-signer');
  const privateKey = createPrivateKey(readFileSync(key));
  const x5c = new X509Certificate(readFileSync(cert)).raw.toString('base64');
  const server: Server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const scope = url.searchParams.get('scope');
    const auth = req.headers.authorization;
    const entry: TokenRequest = { scope, service: url.searchParams.get('service') };
    let granted: string[];
    if (auth?.startsWith('Basic ')) {
      const [user, password] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      entry.user = user;
      log.push(entry);
      if (user !== options.user || password !== options.password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
      granted = ['pull', 'push'];
    } else {
      log.push(entry);
      granted = options.anonymousPull ? ['pull'] : [];
    }
    if (running.uselessTokens > 0) {
      running.uselessTokens--;
      granted = [];
    }
    const access = scope
      ? scope.split(' ').map((s) => {
          const [type, name, actions] = s.split(':');
          return { type, name, actions: (actions ?? '').split(',').filter((a) => granted.includes(a)) };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [x5c] }));
    const claims = base64url(
      JSON.stringify({ iss: TOKEN_ISSUER, sub: entry.user ?? '', aud: TOKEN_SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }),
    );
    const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(privateKey);
    const token = `${header}.${claims}.${base64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { realm: `http://127.0.0.1:${(server.address() as { port: number }).port}/token`, cert };
}

export interface StaticRequest {
  scheme: 'http' | 'https';
  method: string;
  path: string;
  authorization?: string;
}

/** Answers a request itself (returning true) or leaves it to the layout (false). */
export type Intercept = (req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https') => boolean;

export interface StaticRegistry {
  /** `127.0.0.1:PORT`, for both schemes when TLS is on. */
  host: string;
  log: StaticRequest[];
}

/**
 * A read-only registry over an OCI layout directory (LayoutWriter): `GET /v2/`, manifests
 * by ref name or digest, blobs by digest; `intercept` adds the hostile part. With `tls`,
 * the one port speaks TLS and plain HTTP alike (a TLS record starts with 0x16; handing the
 * socket itself to an https server loses the hello), so a redirect can change the scheme
 * and nothing else.
 */
export async function startStaticRegistry(
  t: Teardown,
  options: { layoutDir: string; tls?: { cert: string; key: string }; intercept?: Intercept },
): Promise<StaticRegistry> {
  const log: StaticRequest[] = [];
  const handler = (scheme: 'http' | 'https') => (req: IncomingMessage, res: ServerResponse) => {
    const entry: StaticRequest = { scheme, method: req.method ?? 'GET', path: req.url ?? '/' };
    if (req.headers.authorization !== undefined) entry.authorization = req.headers.authorization;
    log.push(entry);
    if (options.intercept?.(req, res, scheme)) return;
    serveLayout(options.layoutDir, entry.path, res);
  };
  const plain = createHttpServer(handler('http'));
  const tls = options.tls ? createHttpsServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, handler('https')) : undefined;
  const plainPort = await listenLoopback(plain);
  const tlsPort = tls ? await listenLoopback(tls) : plainPort;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  // The front port relays each connection to the server its first byte calls for.
  const front = createNetServer((socket) => {
    track(socket);
    socket.once('data', (first: Buffer) => {
      const inner = connect(first[0] === 0x16 ? tlsPort : plainPort, '127.0.0.1');
      track(inner);
      inner.write(first);
      socket.pipe(inner).pipe(socket);
      inner.on('close', () => socket.destroy());
      socket.on('close', () => inner.destroy());
    });
  });
  const port = await listenLoopback(front);
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    for (const server of [front, plain, ...(tls ? [tls] : [])]) server.close();
  });
  return { host: `127.0.0.1:${port}`, log };
}

function listenLoopback(server: NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function serveLayout(dir: string, path: string, res: ServerResponse): void {
  if (path === '/v2/') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    return;
  }
  const m = /^\/v2\/.+\/(manifests|blobs)\/([^/?]+)$/.exec(path);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ mediaType: string; digest: string; annotations?: Record<string, string> }> };
  const named = m?.[1] === 'manifests' ? index.manifests.find((e) => e.annotations?.['org.opencontainers.image.ref.name'] === m[2]) : undefined;
  const digest = named?.digest ?? m?.[2] ?? '';
  const file = join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  if (!m || !/^sha256:[a-f0-9]{64}$/.test(digest) || !existsSync(file)) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
    return;
  }
  const mediaType = m[1] === 'manifests' ? (JSON.parse(readFileSync(file, 'utf8')) as { mediaType?: string }).mediaType : undefined;
  res.writeHead(200, {
    'content-length': statSync(file).size,
    'content-type': mediaType ?? 'application/octet-stream',
    'docker-content-digest': digest,
  });
  createReadStream(file).pipe(res);
}

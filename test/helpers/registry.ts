/**
 * Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, stopped at teardown:
 * plain HTTP, TLS with a self-signed certificate, htpasswd Basic auth, or Bearer tokens
 * from a token service of our own (distribution's `auth: token`, JWTs signed RS256 with a
 * key whose certificate is the registry's `rootcertbundle`; the certificate travels in the
 * JWT header's `x5c`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer } from 'node:net';
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

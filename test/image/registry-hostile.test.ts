/**
 * Registries that attack the client, each reproduced on loopback against the real code
 * path: credentials lured to plain HTTP (a redirect that changes only the scheme, a
 * plain-HTTP Bearer realm), registries that stall or trickle, manifests with absurd layer
 * counts, many tiny layers under a low descriptor limit, and terminal escapes in errors.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { openImage } from '../../src/image/index.js';
import { CLI, debugfs, prerequisites, tempDir } from '../helpers/env.js';
import { drain, LayoutWriter, OCI, rejects, sha256, smallLayer, tarDirectory } from '../helpers/oci-build.js';
import { selfSignedCert, startStaticRegistry, withEnv } from '../helpers/registry.js';
import { buildLayer } from '../helpers/tar-build.js';

if (!prerequisites(t, { tools: ['openssl', 'tar', 'debugfs'] })) process.exit(0);

const scratch = tempDir(t);
const layout = new LayoutWriter(join(scratch, 'layout'));
const image = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [smallLayer(scratch, 'hello', 'hello\n')] });
layout.tagImage(image, 'latest');
const layer = image.layers[0]!;
const { cert, key } = selfSignedCert(scratch, 'hostile');
const retry = { attempts: 5, baseDelayMs: 50, maxDelayMs: 400 };

/** No developer credentials, and the hostile server's certificate trusted. */
const emptyDockerConfig = join(scratch, 'empty-docker');
mkdirSync(emptyDockerConfig);
const trusted = { DOCKER_CONFIG: emptyDockerConfig, REGISTRY_AUTH_FILE: undefined, NODE_EXTRA_CA_CERTS: cert };

const basic = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;

t.test('an HTTPS registry redirecting a blob to http:// on the same host and port: followed without credentials', async (t) => {
  withEnv(t, trusted);
  const registry = await startStaticRegistry(t, {
    layoutDir: layout.dir,
    tls: { cert, key },
    intercept: (req, res, scheme) => {
      if (scheme === 'http') return false; // the "CDN": serves blobs to anyone
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="hostile"' }).end();
        return true;
      }
      if (!req.url!.includes('/blobs/')) return false;
      // Same host and port, only the scheme changes: URL.host is equal on both sides.
      res.writeHead(307, { location: `http://${registry.host}${req.url}` }).end();
      return true;
    },
  });
  const pulled = await openImage(`${registry.host}/test/hello:latest`, { cacheDir: tempDir(t), creds: 'alice:s3cret', retry });
  t.equal((await drain(pulled.layers[0]!.open())).digest, layer.diffId, 'the blob arrived through the redirect');
  const plain = registry.log.filter((r) => r.scheme === 'http');
  t.ok(plain.length >= 1, `${plain.length} plain-HTTP requests (the redirect was followed)`);
  t.same(plain.filter((r) => r.authorization !== undefined), [], 'the plain-HTTP listener never saw Authorization');
  t.ok(registry.log.some((r) => r.scheme === 'https' && r.authorization === basic), 'the HTTPS registry got the credentials');
});

t.test('a plain-HTTP Bearer realm of an HTTPS registry never receives the credentials', async (t) => {
  withEnv(t, trusted);
  const tokenRequests: Array<string | undefined> = [];
  const tokenService = createHttpServer((req, res) => {
    tokenRequests.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'anonymous-token', expires_in: 300 }));
  });
  await new Promise<void>((resolve) => tokenService.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => tokenService.close(() => resolve())));
  const realm = `http://127.0.0.1:${(tokenService.address() as { port: number }).port}/token`;
  const registry = await startStaticRegistry(t, {
    layoutDir: layout.dir,
    tls: { cert, key },
    intercept: (req, res) => {
      if (req.headers.authorization === 'Bearer anonymous-token') return false;
      res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="hostile"` }).end();
      return true;
    },
  });
  const ref = `${registry.host}/test/hello:latest`;
  await rejects(t, openImage(ref, { cacheDir: tempDir(t), creds: 'alice:s3cret', retry }), 'AUTH', [new URL(realm).origin, 'plain HTTP', 'cleartext']);
  t.same(tokenRequests, [], 'the realm was not even asked');

  const anonymous = await openImage(ref, { cacheDir: tempDir(t), retry });
  t.equal(anonymous.digest, image.manifestDigest, 'without credentials there is nothing to leak: an anonymous token');
  t.same(tokenRequests, [undefined], 'one token request, without Authorization');
});

t.test('deadlines', async (t) => {
  withEnv(t, { ...trusted, INFRA_OPERATOR_HTTP_DEADLINE_SCALE: '0.05' });

  t.test('a server that accepts and never answers fails within the deadline, naming the host', async (t) => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.teardown(() => {
      for (const socket of sockets) socket.destroy();
      silent.close();
    });
    const host = `127.0.0.1:${(silent.address() as { port: number }).port}`;
    const started = Date.now();
    await rejects(t, openImage(`${host}/test/hello:latest`, { cacheDir: tempDir(t), retry }), 'NETWORK', [`contacting ${host}`, `gave up waiting for ${host} after 3 s`]);
    const elapsed = Date.now() - started;
    t.ok(elapsed >= 2900 && elapsed < 8000, `failed after ${elapsed} ms (deadline 60 s × 0.05)`);
  });

  t.test('a blob trickled a byte a second fails within its deadline, naming the blob and host', async (t) => {
    const timers = new Set<NodeJS.Timeout>();
    t.teardown(() => timers.forEach(clearInterval));
    const registry = await startStaticRegistry(t, {
      layoutDir: layout.dir,
      intercept: (req, res) => {
        if (!req.url!.endsWith(`/blobs/${layer.digest}`)) return false;
        res.writeHead(200, { 'content-length': layer.size, 'content-type': 'application/octet-stream' });
        const timer = setInterval(() => res.write(Buffer.from([0])), 1000);
        timers.add(timer);
        res.on('close', () => clearInterval(timer));
        return true;
      },
    });
    const started = Date.now();
    await rejects(t, openImage(`${registry.host}/test/hello:latest`, { cacheDir: tempDir(t), retry }), 'NETWORK', [
      `blob ${layer.digest}`,
      `gave up waiting for ${registry.host}`,
      'INFRA_OPERATOR_HTTP_DEADLINE_SCALE',
    ]);
    const elapsed = Date.now() - started;
    t.ok(elapsed >= 2900 && elapsed < 10_000, `failed after ${elapsed} ms, not the ${layer.size} s the trickle would take`);
  });

  t.test('a scale that is not a positive number is refused', async (t) => {
    withEnv(t, { INFRA_OPERATOR_HTTP_DEADLINE_SCALE: 'soon' });
    await rejects(t, openImage('127.0.0.1:1/test/hello:latest', { cacheDir: tempDir(t), retry }), 'INPUT', ['INFRA_OPERATOR_HTTP_DEADLINE_SCALE', 'positive number']);
  });
});

t.test('a manifest of 10,000 layers is refused before any blob is fetched', async (t) => {
  const fake = (i: number) => ({ mediaType: OCI.layerGzip, digest: sha256(`layer ${i}`), size: 100 });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI.manifest,
    config: { mediaType: OCI.config, digest: sha256('config'), size: 100 },
    layers: Array.from({ length: 10_000 }, (_, i) => fake(i)),
  });
  const registry = await startStaticRegistry(t, {
    layoutDir: layout.dir,
    intercept: (req, res) => {
      if (!req.url!.endsWith('/manifests/latest')) return false;
      res.writeHead(200, { 'content-type': OCI.manifest }).end(manifest);
      return true;
    },
  });
  await rejects(t, openImage(`${registry.host}/test/deep:latest`, { cacheDir: tempDir(t), retry }), 'MANIFEST', ['10000 layers', 'the 500 infra.operator accepts']);
  t.same(registry.log.filter((r) => r.path.includes('/blobs/')), [], 'no blob requested, not even the config');

  t.test('docker-archive manifest.json too', async (t) => {
    const dir = join(tempDir(t), 'archive');
    mkdirSync(dir);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['deep:1'], Layers: Array.from({ length: 501 }, (_, i) => `${i}/layer.tar`) }]));
    const archive = tarDirectory(dir, join(tempDir(t), 'deep.tar'));
    await rejects(t, openImage(`docker-archive:${archive}`), 'MANIFEST', ['501 layers', 'the 500 infra.operator accepts']);
  });
});

t.test('300 tiny layers pull under a limit of 128 open files', async (t) => {
  const many = new LayoutWriter(join(scratch, 'many'));
  const names = Array.from({ length: 300 }, (_, i) => `f${i}`);
  const tarballs = names.map((name) => {
    const file = join(scratch, `${name}.tar.gz`);
    writeFileSync(file, gzipSync(buildLayer([{ path: name, data: `${name}\n` }])));
    return file;
  });
  many.tagImage(many.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: tarballs }), 'many');
  const registry = await startStaticRegistry(t, { layoutDir: many.dir });
  const out = join(tempDir(t), 'many.ext4');
  const args = ['rootfs', 'from-docker', '-n', 'many', '-i', `${registry.host}/test/many:many`, '-s', 'auto', '-o', out, '--init', 'none', '--guest-runner', 'none', '--quiet'];
  // Asynchronous: the registry answering the child lives in this process.
  const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn('sh', ['-c', 'ulimit -n 128 && exec "$@"', 'sh', process.execPath, CLI, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 300_000,
      env: { ...process.env, INFRA_OPERATOR_CACHE_DIR: tempDir(t) },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stderr }));
  });
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.slice(0, 2000)})`);
  const listing = debugfs(out, 'ls -p /').split('\n').map((line) => line.split('/')[5]).filter((n): n is string => !!n && n !== '.' && n !== '..');
  t.same(listing.filter((n) => n.startsWith('f')).sort(), [...names].sort(), 'every layer\'s file is in the rootfs');
});

t.test('terminal escapes in a registry error body are shown, not sent to the terminal', async (t) => {
  const registry = await startStaticRegistry(t, {
    layoutDir: layout.dir,
    intercept: (req, res) => {
      if (!req.url!.includes('/manifests/')) return false;
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"message":"\x1b[31mred\x1b]0;pwned\x07 \x9b2J"}]}\n');
      return true;
    },
  });
  const err = await rejects(t, openImage(`${registry.host}/test/hello:latest`, { cacheDir: tempDir(t), retry }), 'NETWORK', ['HTTP 400', '\\x1b[31mred\\x1b]0;pwned\\x07 \\x9b2J']);
  t.notMatch(err.message, /[\x00-\x1f\x7f-\x9f]/, 'no control character left');
});

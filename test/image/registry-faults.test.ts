/**
 * Network faults between the client and a real docker-registry, injected by a loopback
 * proxy: resets and short bodies are resumed with Range, 429 and 5xx retried (honouring
 * Retry-After), and a corrupted blob fails with INTEGRITY without reaching the cache.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openImage } from '../../src/image/index.js';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { drain, LayoutWriter, pushLayout, rejects, sha256, smallLayer, uncompressedDigest } from '../helpers/oci-build.js';
import { startRegistry } from '../helpers/registry.js';

if (!prerequisites(t, { tools: ['docker-registry', 'skopeo'], files: [ALPINE_X86] })) process.exit(0);

const scratch = tempDir(t);
const registry = await startRegistry(t);
const layout = new LayoutWriter(join(scratch, 'layout'));
const image = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86] });
layout.tagImage(image, 'latest');
await pushLayout(layout.dir, 'latest', `${registry.host}/test/alpine:latest`);
const proxy = await startFaultProxy(t, registry.host);
const ref = `${proxy.host}/test/alpine:latest`;
const layerDigest = sha256(readFileSync(ALPINE_X86));
const layerSize = readFileSync(ALPINE_X86).length;
const layerPath = new RegExp(`/blobs/${layerDigest}$`);
/** Short waits so the suite stays fast; the policy's shape is what is under test. */
const retry = { attempts: 5, baseDelayMs: 50, maxDelayMs: 400 };

function fresh(t: { teardown(fn: () => void): void }) {
  proxy.rules.length = 0;
  proxy.log.length = 0;
  return { cacheDir: tempDir(t), retry };
}

async function pullsIntact(t: Test, options: { cacheDir: string }): Promise<void> {
  const pulled = await openImage(ref, options);
  t.equal(pulled.layers[0]!.digest, layerDigest);
  t.equal(sha256(readFileSync(join(options.cacheDir, 'blobs', 'sha256', layerDigest.slice(7)))), layerDigest, 'cached blob intact');
  t.equal((await drain(pulled.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86));
}

const layerRequests = () => proxy.log.filter((r) => layerPath.test(r.path));

t.test('a connection reset mid-blob is resumed with Range', async (t) => {
  const options = fresh(t);
  proxy.rules.push({ path: layerPath, fault: { kind: 'reset', afterBytes: 1 << 20 }, times: 1 });
  await pullsIntact(t, options);
  const requests = layerRequests();
  t.equal(requests.length, 2, 'one retry');
  t.equal(requests[0]!.range, undefined);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1]!.range ?? '')?.[1]);
  t.ok(resumedAt > 0 && resumedAt <= 1 << 20, `resumed at byte ${resumedAt}`);
});

t.test('a body cut short is resumed with Range', async (t) => {
  const options = fresh(t);
  proxy.rules.push({ path: layerPath, fault: { kind: 'truncate', afterBytes: 700_000 }, times: 2 });
  await pullsIntact(t, options);
  t.same(
    layerRequests().map((r) => r.range),
    [undefined, 'bytes=700000-', 'bytes=1400000-'],
    'each attempt continues where the last stopped',
  );
});

t.test('429 with Retry-After is honoured', async (t) => {
  const options = fresh(t);
  proxy.rules.push({ path: /\/manifests\/latest$/, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } }, times: 1 });
  const started = Date.now();
  await pullsIntact(t, options);
  t.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms for Retry-After: 1`);
  t.equal(proxy.log.filter((r) => r.path.endsWith('/manifests/latest')).length, 2);
});

t.test('500s are retried with backoff, and give up with NETWORK after the last attempt', async (t) => {
  const options = fresh(t);
  proxy.rules.push({ path: layerPath, fault: { kind: 'status', status: 500 }, times: 2 });
  await pullsIntact(t, options);
  t.same(layerRequests().map((r) => r.fault), ['status', 'status', undefined]);

  const failing = fresh(t);
  proxy.rules.push({ path: layerPath, fault: { kind: 'status', status: 503 }, times: 99 });
  await rejects(t, openImage(ref, failing), 'NETWORK', [`blob ${layerDigest}`, 'failed 5 times', 'HTTP 503']);
  t.equal(layerRequests().length, 5);
});

t.test('a flipped byte fails with INTEGRITY and the cache keeps nothing', async (t) => {
  const options = fresh(t);
  proxy.rules.push({ path: layerPath, fault: { kind: 'flip', atByte: layerSize - 1000 }, times: 1 });
  await rejects(t, openImage(ref, options), 'INTEGRITY', [`blob ${layerDigest}`, 'corrupted']);
  t.notOk(existsSync(join(options.cacheDir, 'blobs', 'sha256', layerDigest.slice(7))), 'no cache entry');
  t.same(readdirSync(join(options.cacheDir, 'tmp')), [], 'no temporary file left');
  await pullsIntact(t, options);
});

t.test('HTTP_PROXY is honoured, NO_PROXY bypasses it', async (t) => {
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  for (const k of ['http_proxy', 'https_proxy', 'HTTPS_PROXY', 'no_proxy']) delete process.env[k];
  process.env.HTTP_PROXY = `http://${proxy.host}`;
  const direct = `${registry.host}/test/alpine:latest`;
  const options = fresh(t);
  t.equal((await openImage(direct, options)).digest, image.manifestDigest);
  // undici tunnels plain HTTP through CONNECT too: every connection went via the proxy.
  t.ok(proxy.log.length >= 2, `${proxy.log.length} connections through the proxy`);
  t.ok(proxy.log.every((r) => r.method === 'CONNECT' && r.path === registry.host), 'each a tunnel to the registry');

  process.env.NO_PROXY = '127.0.0.1';
  const bypass = fresh(t);
  t.equal((await openImage(direct, bypass)).digest, image.manifestDigest);
  t.same(proxy.log, [], 'NO_PROXY host reached directly');
});

t.test('at most 4 blob downloads per host at once', async (t) => {
  const wide = new LayoutWriter(join(scratch, 'wide'));
  const layers = Array.from({ length: 7 }, (_, i) => smallLayer(scratch, `f${i}`, `layer ${i}\n`));
  const built = wide.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers });
  wide.tagImage(built, 'wide');
  await pushLayout(wide.dir, 'wide', `${registry.host}/test/wide:1`);
  const options = fresh(t);
  proxy.rules.push({ path: /\/blobs\/sha256:/, fault: { kind: 'delay', ms: 400 }, times: 99 });
  proxy.maxInFlight = 0;
  const pulled = await openImage(`${proxy.host}/test/wide:1`, options);
  t.same(pulled.layers.map((l) => l.digest), built.layers.map((l) => l.digest));
  t.equal(proxy.maxInFlight, 4, 'four in flight, never more');
});

t.test('a blob redirect to another host is followed without the Authorization header', async (t) => {
  const authenticated = await startRegistry(t, { basic: { user: 'u', password: 'p' } });
  await pushLayout(layout.dir, 'latest', `${authenticated.host}/test/alpine:latest`, { creds: 'u:p' });
  const front = await startFaultProxy(t, authenticated.host);
  const options = fresh(t);
  // The "CDN" is the fault proxy over the open registry, reached under another host name.
  const cdnBase = `http://localhost:${proxy.host.split(':')[1]}`;
  front.rules.push({ path: layerPath, fault: { kind: 'redirect', base: cdnBase }, times: 1 });
  const pulled = await openImage(`${front.host}/test/alpine:latest`, { ...options, creds: 'u:p' });
  t.equal((await drain(pulled.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86));
  t.ok(front.log.some((r) => r.fault === 'redirect' && r.authorization), 'the registry got credentials');
  t.same(layerRequests().map((r) => r.authorization), [false], 'the CDN got none');
});

t.test('a manifest fetched by digest is verified', async (t) => {
  const options = fresh(t);
  proxy.rules.push({ path: /\/manifests\/sha256:/, fault: { kind: 'flip', atByte: 20 }, times: 1 });
  await rejects(t, openImage(`${proxy.host}/test/alpine@${image.manifestDigest}`, options), 'INTEGRITY', [`manifest ${image.manifestDigest}`]);
});

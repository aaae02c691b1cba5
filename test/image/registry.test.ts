/** docker:// against a real plain-HTTP docker-registry on loopback. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openImage } from '../../src/image/index.js';
import { ALPINE_ARM, ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { drain, LayoutWriter, pushLayout, rejects, sha256, uncompressedDigest } from '../helpers/oci-build.js';
import { startRegistry } from '../helpers/registry.js';

if (!prerequisites(t, { tools: ['docker-registry', 'skopeo'], files: [ALPINE_X86, ALPINE_ARM] })) process.exit(0);

const scratch = tempDir(t);
const registry = await startRegistry(t);
const layout = new LayoutWriter(join(scratch, 'layout'));
const amd64 = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86], cmd: ['/bin/sh', '-l'] });
const arm64 = layout.addImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [ALPINE_ARM] });
const index = layout.tagIndex([amd64, arm64], 'multi');
layout.tagImage(arm64, 'arm64');
await pushLayout(layout.dir, 'multi', `${registry.host}/test/alpine:multi`);
await pushLayout(layout.dir, 'arm64', `${registry.host}/test/alpine:arm64`);
const x86Gz = sha256(readFileSync(ALPINE_X86));
const armGz = sha256(readFileSync(ALPINE_ARM));

t.test('an index: linux/amd64 by default, pulled into the cache with progress', async (t) => {
  const cacheDir = tempDir(t);
  const progress: Array<[number, number, number]> = [];
  const image = await openImage(`${registry.host}/test/alpine:multi`, { cacheDir, onProgress: (i, bytes, total) => progress.push([i, bytes, total]) });
  t.equal(image.reference, `docker://${registry.host}/test/alpine:multi`);
  t.equal(image.digest, amd64.manifestDigest);
  t.same(image.platform, { os: 'linux', architecture: 'amd64' });
  t.same(image.config.cmd, ['/bin/sh', '-l']);
  t.equal(image.layers[0]!.digest, x86Gz);
  t.equal(image.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
  const size = readFileSync(ALPINE_X86).length;
  t.same(progress.at(-1), [0, size, size], 'progress ends at the layer size');
  t.ok(progress.length > 1, 'progress reported as bytes arrive');
  t.ok(existsSync(join(cacheDir, 'blobs', 'sha256', x86Gz.slice(7))), 'layer blob cached by digest');
  t.same(readdirSync(join(cacheDir, 'tmp')), [], 'no temporary files left');
  t.equal((await drain(image.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86));
  t.equal((await drain(image.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86), 'read twice from the cache');
});

t.test('linux/arm64 selects the aarch64 layer (variant v8 = none), by tag or by digest', async (t) => {
  const cacheDir = tempDir(t);
  for (const ref of [`docker://${registry.host}/test/alpine:multi`, `${registry.host}/test/alpine@${index.digest}`]) {
    const image = await openImage(ref, { cacheDir, platform: 'linux/arm64' });
    t.equal(image.digest, arm64.manifestDigest, ref);
    t.same(image.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    t.equal(image.layers[0]!.digest, armGz);
    t.equal((await drain(image.layers[0]!.open())).digest, uncompressedDigest(ALPINE_ARM));
  }
});

t.test('Docker schema 2 manifests and media types', async (t) => {
  await pushLayout(layout.dir, 'arm64', `${registry.host}/test/docker-types:1`, { format: 'v2s2' });
  const image = await openImage(`${registry.host}/test/docker-types:1`, { cacheDir: tempDir(t), platform: 'linux/arm64' });
  t.equal(image.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  t.equal(image.layers[0]!.digest, armGz);
  t.equal((await drain(image.layers[0]!.open())).digest, uncompressedDigest(ALPINE_ARM));
});

t.test('a damaged cache entry is dropped and fetched again', async (t) => {
  const cacheDir = tempDir(t);
  await openImage(`${registry.host}/test/alpine:multi`, { cacheDir });
  const entry = join(cacheDir, 'blobs', 'sha256', x86Gz.slice(7));
  const bytes = readFileSync(entry);
  bytes[100] ^= 1;
  writeFileSync(entry, bytes);
  const image = await openImage(`${registry.host}/test/alpine:multi`, { cacheDir });
  t.equal(sha256(readFileSync(entry)), x86Gz, 'entry repaired');
  t.equal((await drain(image.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86));
});

t.test('noCache pulls into a temporary directory that close() removes', async (t) => {
  const cacheDir = tempDir(t);
  const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('infra-operator-blobs-')));
  const image = await openImage(`${registry.host}/test/alpine:multi`, { cacheDir, noCache: true });
  const created = readdirSync(tmpdir()).filter((n) => n.startsWith('infra-operator-blobs-') && !before.has(n));
  t.equal(created.length, 1, 'one temporary blob directory');
  t.equal((await drain(image.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86));
  t.same(readdirSync(cacheDir), [], 'the cache was not touched');
  await image.close!();
  t.notOk(existsSync(join(tmpdir(), created[0]!)), 'removed by close()');
});

t.test('platform and name errors', async (t) => {
  const cacheDir = tempDir(t);
  await rejects(t, openImage(`${registry.host}/test/alpine:arm64`, { cacheDir }), 'PLATFORM', ['linux/arm64/v8', 'linux/amd64']);
  await rejects(t, openImage(`${registry.host}/test/alpine:multi`, { cacheDir, platform: 'linux/riscv64' }), 'PLATFORM', ['linux/riscv64', 'linux/amd64, linux/arm64/v8']);
  await rejects(t, openImage(`${registry.host}/test/alpine:nope`, { cacheDir }), 'NOT_FOUND', ['tag "nope" not found in the repository test/alpine']);
  // docker-registry answers MANIFEST_UNKNOWN here too; its tags list tells the repository is missing.
  await rejects(t, openImage(`${registry.host}/test/missing:latest`, { cacheDir }), 'NOT_FOUND', ['the repository test/missing does not exist']);
});

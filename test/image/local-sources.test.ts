import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { openImage } from '../../src/image/index.js';
import { ALPINE_ARM, ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { dockerSaveArchive, drain, LayoutWriter, rejects, sha256, tarDirectory, uncompressedDigest } from '../helpers/oci-build.js';

if (!prerequisites(t, { tools: ['tar'], files: [ALPINE_X86, ALPINE_ARM] })) process.exit(0);

const scratch = tempDir(t);
const x86Tar = uncompressedDigest(ALPINE_X86);
const armTar = uncompressedDigest(ALPINE_ARM);
const x86Gz = sha256(readFileSync(ALPINE_X86));
const armGz = sha256(readFileSync(ALPINE_ARM));

const layout = new LayoutWriter(join(scratch, 'layout'));
const amd64 = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86], env: ['A=1'], cmd: ['/bin/ash'] });
const arm64 = layout.addImage({ platform: { os: 'linux', architecture: 'arm64' }, layers: [ALPINE_ARM] });
layout.tagImage(amd64, 'amd64');
layout.tagImage(arm64, 'arm64');
layout.tagIndex([amd64, arm64], 'multi');

t.test('oci: index selects the platform; layers stream verified, and can be opened twice', async (t) => {
  const image = await openImage(`oci:${layout.dir}:multi`);
  t.equal(image.digest, amd64.manifestDigest);
  t.same(image.platform, { os: 'linux', architecture: 'amd64' });
  t.same(image.config, { env: ['A=1'], entrypoint: [], cmd: ['/bin/ash'], workingDir: '', user: '' });
  t.equal(image.created, '2024-09-06T00:00:00Z');
  t.equal(image.whiteouts, true);
  t.equal(image.layers.length, 1);
  const [layer] = image.layers;
  t.equal(layer!.digest, x86Gz);
  t.equal(layer!.diffId, x86Tar);
  t.equal(layer!.size, readFileSync(ALPINE_X86).length);
  t.equal((await drain(layer!.open())).digest, x86Tar, 'first read is the uncompressed tar');
  t.equal((await drain(layer!.open())).digest, x86Tar, 'second read too');

  const arm = await openImage(`oci:${layout.dir}:multi`, { platform: 'linux/arm64/v8' });
  t.equal(arm.digest, arm64.manifestDigest, 'arm64/v8 matches an arm64 entry without variant');
  t.equal(arm.layers[0]!.digest, armGz);
  t.equal((await drain(arm.layers[0]!.open())).digest, armTar);
});

t.test('oci: choosing among several images', async (t) => {
  await rejects(t, openImage(`oci:${layout.dir}`), 'INPUT', ['3 images', 'amd64', 'arm64', 'multi']);
  await rejects(t, openImage(`oci:${layout.dir}:nope`), 'NOT_FOUND', ['"nope"', 'multi']);
  await rejects(t, openImage(`oci:${layout.dir}:arm64`), 'PLATFORM', ['linux/arm64', 'linux/amd64']);
  await rejects(t, openImage(`oci:${layout.dir}:multi`, { platform: 'linux/s390x' }), 'PLATFORM', ['linux/s390x', 'linux/amd64, linux/arm64']);
  const single = await openImage(`oci:${layout.dir}:arm64`, { platform: 'linux/arm64' });
  t.equal(single.digest, arm64.manifestDigest);
});

t.test('oci-archive: reads blobs in place from the tar', async (t) => {
  const archive = tarDirectory(layout.dir, join(scratch, 'layout.tar'));
  const image = await openImage(`oci-archive:${archive}:multi`, { platform: 'linux/arm64' });
  t.equal(image.digest, arm64.manifestDigest);
  t.equal((await drain(image.layers[0]!.open())).digest, armTar);
  await rejects(t, openImage(`oci-archive:${join(scratch, 'missing.tar')}`), 'INPUT', ['no such file']);
});

t.test('docker-archive: docker save layout with manifest.json and plain layer tars', async (t) => {
  const file = join(scratch, 'saved.tar');
  const [x86, arm] = dockerSaveArchive(scratch, file, [
    { spec: { platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86], env: ['B=2'] }, repoTags: ['example/alpine:x86'] },
    { spec: { platform: { os: 'linux', architecture: 'arm64' }, layers: [ALPINE_ARM] }, repoTags: ['example/alpine:arm'] },
  ]);
  await rejects(t, openImage(`docker-archive:${file}`), 'INPUT', ['2 images', 'example/alpine:x86', 'example/alpine:arm']);
  const image = await openImage(`docker-archive:${file}:example/alpine:x86`);
  t.equal(image.digest, x86!.configDigest, 'digest is the config digest (image ID)');
  t.same(image.config.env, ['B=2']);
  t.equal(image.layers[0]!.digest, x86Tar, 'an uncompressed layer blob is its own DiffID');
  t.equal(image.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar');
  t.equal((await drain(image.layers[0]!.open())).digest, x86Tar);
  const byPosition = await openImage(`docker-archive:${file}:@1`, { platform: 'linux/arm64' });
  t.equal(byPosition.digest, arm!.configDigest);
  t.equal((await drain(byPosition.layers[0]!.open())).digest, armTar);
  await rejects(t, openImage(`docker-archive:${file}:@1`), 'PLATFORM', ['linux/arm64', 'linux/amd64']);
  await rejects(t, openImage(`docker-archive:${file}:docker.io/library/alpine:latest`), 'NOT_FOUND', ['example/alpine:x86']);
});

t.test('docker-archive: a repeated layer stored as a symlink to its first copy', async (t) => {
  const file = join(scratch, 'shared-layers.tar');
  dockerSaveArchive(join(scratch, 'shared'), file, [
    { spec: { platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86] }, repoTags: ['one:1'] },
    { spec: { platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86] }, repoTags: ['two:1'] },
  ]);
  t.match(execFileSync('tar', ['-tvf', file], { encoding: 'utf8' }), /2\/layer\.tar -> \.\.\/1\/layer\.tar/, 'the archive holds the symlink');
  const image = await openImage(`docker-archive:${file}:two:1`);
  t.equal((await drain(image.layers[0]!.open())).digest, x86Tar);
});

t.test('docker-archive: the OCI layout newer docker save writes beside manifest.json', async (t) => {
  const dir = join(scratch, 'docker25');
  const writer = new LayoutWriter(dir);
  const built = writer.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86] });
  writer.tagImage(built, 'latest');
  const entry = { Config: `blobs/sha256/${built.configDigest.slice(7)}`, RepoTags: ['app:1'], Layers: [`blobs/sha256/${built.layers[0]!.digest.slice(7)}`] };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify([entry]));
  const file = tarDirectory(dir, join(scratch, 'docker25.tar'));
  const image = await openImage(`docker-archive:${file}`);
  t.equal(image.layers[0]!.digest, x86Gz);
  t.equal(image.layers[0]!.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  t.equal((await drain(image.layers[0]!.open())).digest, x86Tar);
});

t.test('oci: a zstd layer', async (t) => {
  if (!prerequisites(t, { tools: ['zstd'] })) return;
  const plain = join(scratch, 'x86.tar');
  writeFileSync(plain, gunzipSync(readFileSync(ALPINE_X86)));
  execFileSync('zstd', ['-q', '-3', plain, '-o', `${plain}.zst`]);
  const writer = new LayoutWriter(join(scratch, 'zstd'));
  const built = writer.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [`${plain}.zst`] });
  writer.tagImage(built, 'zstd');
  const image = await openImage(`oci:${writer.dir}`);
  t.equal(image.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
  t.equal(image.layers[0]!.diffId, x86Tar);
  t.equal((await drain(image.layers[0]!.open())).digest, x86Tar);
});

t.test('tar: a rootfs tarball is one layer without config or whiteouts', async (t) => {
  const image = await openImage(`tar:${ALPINE_X86}`);
  t.equal(image.digest, '', 'the file is hashed in the one pass that reads it, not before');
  t.equal(image.whiteouts, false);
  t.same(image.config, { env: [], entrypoint: [], cmd: [], workingDir: '', user: '' });
  t.equal(image.layers.length, 1);
  t.equal(image.layers[0]!.diffId, undefined);
  const read = await drain(image.layers[0]!.open());
  t.equal(read.digest, x86Tar);
  t.match(read.head.subarray(257, 263).toString('latin1'), /^ustar/, 'the stream is tar');
  t.equal(image.digest, x86Gz, 'once read, the digest is the sha256 of the file');
  t.equal(image.layers[0]!.digest, x86Gz);
});

t.test('bare paths and bad references are refused with the prefix to use', async (t) => {
  await rejects(t, openImage(ALPINE_X86), 'INPUT', [`tar:${ALPINE_X86}`, 'docker-archive:', 'oci-archive:']);
  await rejects(t, openImage(layout.dir), 'INPUT', [`oci:${layout.dir}`]);
  await rejects(t, openImage('Not/A/Valid:ref:x'), 'USAGE', ['invalid image reference']);
  await rejects(t, openImage(`oci:${layout.dir}:multi`, { platform: 'linux' }), 'USAGE', ['os/arch']);
});

t.test('malformed documents fail with MANIFEST naming the document', async (t) => {
  const dir = join(scratch, 'malformed');
  const writer = new LayoutWriter(dir);
  const bad = writer.writeBlob(JSON.stringify({ schemaVersion: 2, config: { mediaType: 'x/y', digest: 'sha256:00', size: -1 }, layers: 'none' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...bad }] }));
  await rejects(t, openImage(`oci:${dir}`), 'MANIFEST', [bad.digest, /layers/, /size/]);
  writeFileSync(join(dir, 'index.json'), '{"schemaVersion": 2, "manifests": [');
  await rejects(t, openImage(`oci:${dir}`), 'MANIFEST', ['index.json', 'not valid JSON']);
});

t.test('a damaged layer blob fails the reader with INTEGRITY naming the layer', async (t) => {
  const dir = join(scratch, 'damaged');
  cpSync(layout.dir, dir, { recursive: true });
  const blob = join(dir, 'blobs', 'sha256', x86Gz.slice(7));
  const bytes = readFileSync(blob);
  bytes[bytes.length >> 1] ^= 0x55;
  writeFileSync(blob, bytes);
  const image = await openImage(`oci:${dir}:amd64`);
  await rejects(t, drain(image.layers[0]!.open()), 'INTEGRITY', [`layer 1 (${x86Gz})`]);
});

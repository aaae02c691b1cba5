/**
 * Sidecar version 2 (docs/store.md "The sidecar"): the chunked sha256 against S3's
 * composite checksum computed by the tools, the name `X.ext4.json` that cannot take a
 * user's file, version 1 sidecars and sidecar keys of older uploads still honoured, and a
 * hostile sidecar from a bucket validated before anything is downloaded.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { makeExt4, specTree } from '../helpers/mke2fs.js';
import { putOnDisk, startS3rver } from '../helpers/s3rver.js';
import { ChunkedDigester, chunkedDigestFile, DIGEST_CHUNK_BYTES } from '../../src/io/digest.js';
import { parseSidecar, writeSidecar } from '../../src/store/sidecar.js';
import { s3CompositeChecksum } from '../../src/store/s3/upload.js';
import { compositeSha256Of, MIB, sha256Of } from './fixtures.js';

const BUCKET = 'runner-codes';
const ESC = /[\x1b\x07\x9b]/;
const FACTS = { name: 'python', image: 'python:3.12-alpine', digest: `sha256:${'ab'.repeat(32)}`, usedBytes: 1, inodes: { count: 2, used: 1 } };

/** A sparse file of `size` bytes holding `pieces` at their offsets, holes elsewhere. */
function sparseFile(path: string, size: number, pieces: Array<[offset: number, data: Buffer]>): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, size);
  for (const [offset, data] of pieces) writeSync(fd, data, 0, data.length, offset);
  closeSync(fd);
}

/** A sidecar as the code before version 2 wrote it: no version, the whole file's sha256, `rootfs-NAME.json`. */
async function writeV1Sidecar(image: string, name: string): Promise<Record<string, unknown>> {
  const st = statSync(image);
  const v1 = { ...FACTS, name, size: st.size, sha256: await sha256Of(image), toolVersion: '0.1.0', builtAt: '2026-01-01T00:00:00.000Z', imageMtimeMs: st.mtimeMs };
  writeFileSync(image.replace(/\.ext4$/, '.json'), `${JSON.stringify(v1, null, 2)}\n`);
  return v1;
}

t.test('the chunked sha256 is S3\'s composite checksum (split + sha256sum); all-zero chunks are not hashed', async (t) => {
  if (!prerequisites(t, { tools: ['split', 'sha256sum'] })) return;
  const dir = tempDir(t);
  t.equal(DIGEST_CHUNK_BYTES, 16 * MIB, 'the upload part size');

  // 3 chunks and a ragged tail: data, a hole, data after 8 MiB of zeros, 123 bytes.
  const holes = join(dir, 'holes.img');
  sparseFile(holes, 3 * 16 * MIB + 123, [[0, randomBytes(MIB + 5)], [40 * MIB, randomBytes(4096)], [48 * MIB, randomBytes(123)]]);
  const digest = await chunkedDigestFile(holes);
  const composite = compositeSha256Of(holes);
  t.equal(digest.sha256, composite.hex, 'an image with holes, its size not a multiple of the chunk');
  t.same([digest.chunks, digest.hashedChunks], [4, 3], 'the hole chunk was not hashed');
  t.equal(s3CompositeChecksum(digest.sha256, statSync(holes).size), `${Buffer.from(composite.hex, 'hex').toString('base64')}-4`, 'S3 notation');

  const empty = join(dir, 'empty.img');
  sparseFile(empty, 64 * MIB, []);
  const zeros = await chunkedDigestFile(empty);
  t.equal(zeros.sha256, compositeSha256Of(empty).hex, 'all holes: the precomputed zero-chunk digest is right');
  t.same([zeros.chunks, zeros.hashedChunks], [4, 0], 'nothing hashed');

  const shortZeroTail = join(dir, 'tail.img');
  sparseFile(shortZeroTail, 16 * MIB + 100, []);
  t.same(await chunkedDigestFile(shortZeroTail), { sha256: compositeSha256Of(shortZeroTail).hex, chunks: 2, hashedChunks: 1 }, 'a short zero chunk is hashed');

  // Fed in pieces that straddle chunk boundaries, as a writer would give them.
  const digester = new ChunkedDigester();
  const bytes = readFileSync(holes);
  for (let at = 0; at < bytes.length; at += 7 * MIB + 1) digester.update(bytes.subarray(at, Math.min(bytes.length, at + 7 * MIB + 1)));
  t.same(digester.digest(), digest, 'the same from pieces of any size');
});

t.test('a sidecar is checked against its schema: unknown keys dropped, wrong types and versions refused', async (t) => {
  const v2 = { version: 2, ...FACTS, platform: { os: 'linux', architecture: 'amd64' }, size: 16 * MIB, chunkSize: 16 * MIB, chunkedSha256: 'a'.repeat(64), toolVersion: '0.3.0', builtAt: '2026-01-01T00:00:00.000Z', imageMtimeMs: 1.5 };
  const withExtras = parseSidecar(JSON.stringify({ ...v2, extra: 'x', platform: { ...v2.platform, extra: 1 } }), 'x.json');
  t.same(withExtras, v2, 'unknown keys dropped, at every level');
  const { version: _, chunkSize: _c, chunkedSha256: _s, ...facts } = v2;
  t.same(parseSidecar(JSON.stringify({ ...facts, sha256: 'b'.repeat(64) }), 'x.json'), { ...facts, sha256: 'b'.repeat(64) }, 'version 1: no version key, the plain sha256');
  const refused = (doc: unknown, message: RegExp, what: string) => t.throws(() => parseSidecar(JSON.stringify(doc), 'x.json'), { code: 'INPUT', message }, what);
  refused({ ...v2, size: '16777216' }, /x\.json is not an infra\.operator sidecar: \/size must be integer/, 'a string for a number');
  refused({ ...v2, inodes: { count: -1, used: 1 } }, /\/inodes\/count must be >= 0/, 'a negative count');
  refused({ ...v2, chunkedSha256: 'A'.repeat(64) }, /\/chunkedSha256 must match pattern/, 'a digest not in lowercase hex');
  refused({ ...v2, chunkSize: 8 * MIB }, /\/chunkSize must be equal to constant/, 'another chunk size');
  refused({ ...v2, name: 'py\x1b[2Jthon' }, /\/name must match pattern/, 'version 2 names are image names');
  refused({ ...v2, version: 3 }, /sidecar version 3, which this infra\.operator does not read/, 'a later version');
  refused({ ...v2, image: 'x'.repeat(5000) }, /\/image must NOT have more than 4096 characters/, 'bounded strings');
  refused([v2], /not a JSON object/, 'an array');
});

t.test('the sidecar never replaces a user\'s file: package.json and vm.json stay, X.ext4.json in the way is refused before the pull', async (t) => {
  if (!prerequisites(t, { tools: ['split', 'sha256sum'], files: [ALPINE_X86] })) return;
  const dir = tempDir(t);
  const build = (name: string, output: string, source = `tar:${ALPINE_X86}`) =>
    cli(['rootfs', 'from-docker', '-q', '-n', name, '-i', source, '-s', '16', '--init', 'none', '--guest-runner', 'none', '-o', output]);

  const packageJson = '{ "name": "my-app", "version": "1.0.0" }\n';
  writeFileSync(join(dir, 'package.json'), packageJson);
  const pkg = build('package', join(dir, 'package.ext4'));
  t.equal(pkg.status, 0, pkg.stderr);
  t.equal(readFileSync(join(dir, 'package.json'), 'utf8'), packageJson, "the user's package.json is untouched");
  const sidecar = JSON.parse(readFileSync(join(dir, 'package.ext4.json'), 'utf8'));
  t.same([sidecar.version, sidecar.name, sidecar.chunkedSha256], [2, 'package', compositeSha256Of(join(dir, 'package.ext4')).hex], 'the sidecar is package.ext4.json');

  const vmJson = JSON.stringify({ 'boot-source': { kernel_image_path: 'vmlinux' }, drives: [{ drive_id: 'rootfs', path_on_host: 'vm.ext4' }] });
  writeFileSync(join(dir, 'vm.json'), vmJson);
  t.equal(build('vm', join(dir, 'vm.ext4')).status, 0);
  t.equal(readFileSync(join(dir, 'vm.json'), 'utf8'), vmJson, "Firecracker's vm.json is untouched");
  t.ok(existsSync(join(dir, 'vm.ext4.json')));

  // An old-named sidecar of ours beside the image a build replaces is removed.
  const images = tempDir(t);
  writeFileSync(join(images, 'rootfs-alp.ext4'), 'an image built before');
  await writeV1Sidecar(join(images, 'rootfs-alp.ext4'), 'alp');
  t.equal(build('alp', join(images, 'rootfs-alp.ext4')).status, 0);
  t.same(readdirSync(images).sort(), ['rootfs-alp.ext4', 'rootfs-alp.ext4.json'], 'rootfs-alp.json (ours, version 1) replaced by rootfs-alp.ext4.json');

  const blocked = tempDir(t);
  const notOurs = '{"mine": true}\n';
  writeFileSync(join(blocked, 'x.ext4.json'), notOurs);
  const refused = build('x', join(blocked, 'x.ext4'));
  t.equal(refused.status, 1);
  t.match(refused.stderr, /^Error: .*x\.ext4\.json is in the way of the image's sidecar and is not an infra\.operator sidecar \(\/ must have required property 'name'.*\), so it is not replaced: move that file away, or give the image another file name with --output\n$/);
  t.same(readdirSync(blocked), ['x.ext4.json'], 'no image, no temporary file');
  t.equal(readFileSync(join(blocked, 'x.ext4.json'), 'utf8'), notOurs, 'the file is untouched');
  const beforePull = build('x', join(blocked, 'x.ext4'), 'tar:/nonexistent/rootfs.tar');
  t.match(beforePull.stderr, /x\.ext4\.json is in the way/, 'refused before the source is opened');
  t.equal(beforePull.status, 1);

  mkdirSync(join(blocked, 'd.ext4.json'));
  t.match(build('d', join(blocked, 'd.ext4')).stderr, /d\.ext4\.json is in the way .*\(not a regular file\)/, 'a directory in the way');
  const create = cli(['rootfs', 'create', '--lang', 'python', '--base', 'debian', '-o', join(blocked, 'x.ext4')]);
  t.equal(create.status, 1);
  t.match(create.stderr, /x\.ext4\.json is in the way/, 'rootfs create refuses it before pulling its base');
});

t.test('a version 1 sidecar under the old name: listed, verified on upload, downloadable; version 2 uploads report their composite', async (t) => {
  if (!prerequisites(t, { tools: ['split', 'sha256sum'] })) return;
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  const image = join(images, 'rootfs-ruby.ext4');
  sparseFile(image, 20 * MIB, [[0, randomBytes(MIB)], [17 * MIB, randomBytes(MIB)]]);
  const v1 = await writeV1Sidecar(image, 'ruby');

  const list = cli(['rootfs', 'list', '--images-dir', images, '--json']);
  t.equal(list.status, 0, list.stderr);
  t.match(JSON.parse(list.stdout), [{ name: 'ruby', sha256: v1.sha256, image: FACTS.image }], 'listed with its sha256, not stale');
  t.notMatch(list.stdout, /sidecarStale/);

  const up = cli(['rootfs', 'upload', '-l', 'ruby', '--images-dir', images], { env: server.env });
  t.equal(up.status, 0, up.stderr);
  t.match(up.stdout, `(20 MB, sha256 ${v1.sha256})`, 'verified by the sha256 it records');
  const metadata = JSON.parse(readFileSync(server.objectPath(BUCKET, 'rootfs-ruby.ext4').replace(/_object$/, '_metadata.json'), 'utf8'));
  t.equal(metadata['x-amz-meta-sha256'], v1.sha256);
  t.same(JSON.parse(readFileSync(server.objectPath(BUCKET, 'rootfs-ruby.ext4.json'), 'utf8')), v1, 'uploaded as it is, under the new key');
  t.equal(await sha256Of(server.objectPath(BUCKET, 'rootfs-ruby.ext4')), v1.sha256, 'two parts sent with their checksums, stored as sent');

  const out = tempDir(t);
  const down = cli(['rootfs', 'download', '-l', 'ruby', '-o', out], { env: server.env });
  t.equal(down.status, 0, down.stderr);
  t.match(down.stdout, `sha256 ${v1.sha256} verified`);
  t.equal(await sha256Of(join(out, 'rootfs-ruby.ext4')), v1.sha256);
  t.equal(JSON.parse(readFileSync(join(out, 'rootfs-ruby.ext4.json'), 'utf8')).sha256, v1.sha256, 'its sidecar beside it, still version 1');
});

t.test('a hostile sidecar in the bucket: unknown keys dropped, escapes printed escaped, a wrong name or type refused', async (t) => {
  if (!prerequisites(t, { tools: ['mke2fs', 'truncate'] })) return;
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  const image = join(images, 'rootfs-evil.ext4');
  makeExt4(image, 20, specTree({ 'etc/hostname': 'evil\n' }, tempDir(t)));
  const sidecar = await writeSidecar(image, { ...FACTS, name: 'evil', platform: { os: 'linux', architecture: 'amd64' } });
  t.equal(cli(['rootfs', 'upload', '-l', 'evil', '--images-dir', images], { env: server.env }).status, 0);
  const plant = (doc: unknown) => putOnDisk(server, BUCKET, 'rootfs-evil.ext4.json', Buffer.from(JSON.stringify(doc)));
  const download = (target: string) => cli(['rootfs', 'download', '-l', 'evil', '-o', target], { env: server.env });

  const hostileImage = 'evil\x1b[31mRED\x1b]0;pwned\x07';
  plant({ ...sidecar, image: hostileImage, toolVersion: '1\x9b2J', extra: 'x'.repeat(1000), platform: { ...sidecar.platform, extra: true } });
  const out = tempDir(t);
  const ok = download(out);
  t.equal(ok.status, 0, ok.stderr);
  t.notMatch(ok.stdout + ok.stderr, ESC, 'no control character reaches the terminal');
  const placed = JSON.parse(readFileSync(join(out, 'rootfs-evil.ext4.json'), 'utf8'));
  t.notOk('extra' in placed || 'extra' in placed.platform, 'unknown keys dropped');
  t.equal(placed.image, hostileImage, 'the text kept as data');
  const shown = cli(['rootfs', 'inspect', join(out, 'rootfs-evil.ext4')]);
  t.equal(shown.status, 0, shown.stderr);
  t.notMatch(shown.stdout, ESC);
  t.match(shown.stdout, 'Source image:   evil\\x1b[31mRED\\x1b]0;pwned\\x07\n');
  t.match(shown.stdout, 'by infra.operator 1\\x9b2J\n');

  const refusedWith = (doc: unknown, message: RegExp, what: string) => {
    plant(doc);
    const target = join(tempDir(t), 'x.ext4');
    const r = download(target);
    t.equal(r.status, 1, what);
    t.match(r.stderr, message, what);
    t.notMatch(r.stderr, ESC, `${what}: printed escaped`);
    t.same(readdirSync(join(target, '..')), [], `${what}: nothing written`);
  };
  refusedWith({ ...sidecar, name: 'python' }, /rootfs-evil\.ext4\.json is the sidecar of 'python', not of 'evil': nothing was downloaded: upload the image again/, 'another image\'s sidecar');
  const { version: _, chunkSize: _c, chunkedSha256: _s, ...facts } = sidecar;
  refusedWith({ ...facts, name: 'x\x1b[2J', sha256: 'a'.repeat(64) }, /is the sidecar of 'x\\x1b\[2J', not of 'evil'/, 'a name with escapes (version 1)');
  refusedWith({ ...sidecar, size: String(sidecar.size) }, /rootfs-evil\.ext4\.json is not an infra\.operator sidecar: \/size must be integer/, 'a wrong type');
  refusedWith({ ...sidecar, image: 'x'.repeat(70_000) }, /rootfs-evil\.ext4\.json is larger than any sidecar/, 'a huge object');
});

/**
 * upload → list --remote → download against a real S3 server (s3rver), for a sparse
 * multi-hundred-MB ext4 image; tampering on the server and an interrupted upload.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisites, tempDir } from '../helpers/env.js';
import { startS3rver } from '../helpers/s3rver.js';
import { writeSidecar } from '../../src/store/sidecar.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { makeExt4, specTree } from '../helpers/mke2fs.js';
import { compositeSha256Of, MIB, sha256Of } from './fixtures.js';

const BUCKET = 'runner-codes';
const IMAGE_MIB = 256;

t.test('a sparse 256 MiB image: upload, list --remote, download byte-identical and sparse, tampering detected', async (t) => {
  if (!prerequisites(t, { tools: ['mke2fs', 'truncate'] })) return;
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  const image = join(images, 'rootfs-python.ext4');
  makeExt4(image, IMAGE_MIB, specTree({ 'usr/lib/blob': randomBytes(4 * MIB), 'etc/hostname': 'python\n' }, tempDir(t)));
  const sidecar = await writeSidecar(image, {
    name: 'python',
    image: 'python:3.12-alpine',
    digest: `sha256:${'ab'.repeat(32)}`,
    usedBytes: 1,
    inodes: { count: 2, used: 1 },
  });
  const sourceSha = await sha256Of(image);
  const composite = compositeSha256Of(image);
  t.equal(sidecar.chunkedSha256, composite.hex);
  t.equal(composite.parts, 16);

  const up = cli(['rootfs', 'upload', '--lang', 'python', '--images-dir', images, '--bucket', `s3://${BUCKET}/images`], { env: server.env });
  t.equal(up.status, 0, up.stderr);
  t.match(up.stdout, new RegExp(`Uploaded: s3://${BUCKET}/images/rootfs-python\\.ext4 \\(256 MB, chunked-sha256 ${composite.hex}\\)`));
  t.equal(up.stderr, '', 'no progress bar without a terminal');
  const objectPath = server.objectPath(BUCKET, 'images/rootfs-python.ext4');
  const metadata = JSON.parse(readFileSync(objectPath.replace(/_object$/, '_metadata.json'), 'utf8'));
  t.equal(metadata['x-amz-meta-chunked-sha256'], composite.hex, 'the chunked sha256 stored as object metadata');
  t.equal(statSync(objectPath).size, IMAGE_MIB * MIB);
  t.equal(await sha256Of(objectPath), sourceSha, 'stored as sent (parts sent with their SHA-256 checksums, no aws-chunked framing)');
  const remoteSidecar = JSON.parse(readFileSync(server.objectPath(BUCKET, 'images/rootfs-python.ext4.json'), 'utf8'));
  t.equal(remoteSidecar.chunkedSha256, composite.hex, 'sidecar uploaded beside the image, under the image key + .json');

  const list = cli(['rootfs', 'list', '--remote', '-b', `s3://${BUCKET}/images/`], { env: server.env });
  t.equal(list.status, 0, list.stderr);
  const minute = statSync(objectPath).mtime.toISOString().slice(0, 16).replace('T', ' ');
  t.equal(list.stdout, `LANGUAGE  SIZE      LAST MODIFIED     S3 KEY\npython    256 MB    ${minute}  images/rootfs-python.ext4\n`);

  const out = tempDir(t);
  const target = join(out, 'python.ext4');
  const down = cli(['rootfs', 'download', '--lang', 'python', '-b', `s3://${BUCKET}/images`, '--output', target], { env: server.env });
  t.equal(down.status, 0, down.stderr);
  t.equal(await sha256Of(target), sourceSha, 'byte-identical');
  const source = statSync(image);
  const copy = statSync(target);
  t.equal(copy.size, source.size);
  t.ok(copy.blocks * 512 <= source.blocks * 512 + MIB, `sparse: ${copy.blocks * 512} bytes allocated, source ${source.blocks * 512}`);
  t.ok(copy.blocks * 512 < 40 * MIB, 'mostly holes');
  t.equal(JSON.parse(readFileSync(join(out, 'python.ext4.json'), 'utf8')).image, 'python:3.12-alpine');

  // Flip one byte of the stored object: the size stays, the sha256 does not.
  const fd = openSync(objectPath, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, 1024 + 100);
  writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, 1024 + 100);
  closeSync(fd);
  const tamperedTarget = join(out, 'tampered.ext4');
  const tampered = cli(['rootfs', 'download', '--lang', 'python', '-b', `s3://${BUCKET}/images`, '-o', tamperedTarget], { env: server.env });
  t.equal(tampered.status, 1);
  t.match(tampered.stderr, new RegExp(`has chunked-sha256 [0-9a-f]{64}, but its metadata says ${composite.hex}: the object is corrupt or was replaced`));
  t.notOk(existsSync(tamperedTarget), 'nothing at the output path');
  t.same(readdirSync(out).sort(), ['python.ext4', 'python.ext4.json'], 'no temporary file left beside it');
});

t.test('an upload interrupted by a server restart is retried, or fails clearly without an object', async (t) => {
  if (!prerequisites(t, { tools: ['mke2fs', 'truncate'] })) return;
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  const image = join(images, 'rootfs-go.ext4');
  // Incompressible data in every part, so that the upload takes long enough to interrupt.
  makeExt4(image, 96, specTree({ blob: randomBytes(64 * MIB) }, tempDir(t)));
  const sourceSha = await sha256Of(image);

  const child = spawnCli(['rootfs', 'upload', '--lang', 'go', '--images-dir', images], { env: server.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => child.kill('SIGKILL'));

  // Stop the server once parts are arriving, then bring it back on the same port and data.
  await waitFor(() => partsArrived(server.dir), 60_000);
  t.equal(child.exitCode, null, 'the upload is still running when the server stops');
  await server.stop();
  await new Promise((r) => setTimeout(r, 500));
  await server.start();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 180_000)));
  const code = await Promise.race([exited, timedOut]).finally(() => clearTimeout(timer));
  t.not(code, 'timeout', 'the upload ended');
  const objectPath = server.objectPath(BUCKET, 'rootfs-go.ext4');
  if (code === 0) {
    t.comment('the upload was retried through the restart');
    const out = tempDir(t);
    const down = cli(['rootfs', 'download', '--lang', 'go', '-o', out], { env: server.env });
    t.equal(down.status, 0, down.stderr);
    t.equal(await sha256Of(join(out, 'rootfs-go.ext4')), sourceSha, 'what arrived is the image');
  } else {
    t.comment('the upload failed during the restart');
    t.equal(code, 1, `failed: ${stderr}`);
    t.match(stderr, /Cannot reach S3 at http:\/\/127\.0\.0\.1:\d+ for the upload of s3:\/\/runner-codes\/rootfs-go\.ext4 .*run the command again/);
    t.notOk(existsSync(objectPath), 'no object at the key');
  }
  t.match(stdout, /Uploading /);
});

/** s3rver keeps multipart uploads as DIR/BUCKET/._S3rver_uploads/ID/{key,metadata,1,1.md5,…}. */
function partsArrived(dir: string): boolean {
  const uploads = join(dir, BUCKET, '._S3rver_uploads');
  if (!existsSync(uploads)) return false;
  return readdirSync(uploads).some((id) => readdirSync(join(uploads, id)).some((f) => f.endsWith('.md5')));
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

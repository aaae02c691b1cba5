/**
 * S3 against a real server (s3rver): paginated listings, verification without metadata,
 * endpoint configuration, and the errors a user meets (no bucket, no object, bad key).
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, prerequisites, tempDir } from '../helpers/env.js';
import { putOnDisk, startS3rver } from '../helpers/s3rver.js';
import { cli } from '../helpers/cli.js';
import { MIB } from './fixtures.js';

const BUCKET = 'runner-codes';

/** 40 MiB + 123 bytes: data, long zero runs, data in the middle of a part, a ragged tail. */
function sparseBody(): Buffer {
  const body = Buffer.alloc(40 * MIB + 123);
  randomBytes(MIB + 5).copy(body, 0);
  randomBytes(4096).copy(body, 20 * MIB + 1000);
  randomBytes(123).copy(body, 40 * MIB);
  return body;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

t.test('list --remote over 1,000+ keys, with a prefix, skipping non-images', async (t) => {
  const server = await startS3rver(t, [BUCKET]);
  const names = Array.from({ length: 1205 }, (_, i) => `lang${String(i).padStart(4, '0')}`);
  for (const name of names) putOnDisk(server, BUCKET, `rootfs-${name}.ext4`, Buffer.from(name));
  putOnDisk(server, BUCKET, 'rootfs-lang0001.json', Buffer.from('{}'));
  putOnDisk(server, BUCKET, 'rootfs-nested/rootfs-x.ext4', Buffer.from('x'));
  putOnDisk(server, BUCKET, 'README.txt', Buffer.from('x'));
  putOnDisk(server, BUCKET, 'team/rootfs-python.ext4', Buffer.alloc(3 * MIB));
  putOnDisk(server, BUCKET, 'team/rootfs-go.ext4', Buffer.alloc(150 * 1024));

  const json = cli(['rootfs', 'list', '--remote', '--json'], { env: server.env });
  t.equal(json.status, 0, json.stderr);
  const listed = JSON.parse(json.stdout) as { name: string; key: string; size: number; lastModified: string }[];
  t.equal(listed.length, names.length, 'every page was read (s3rver pages at 1,000 keys)');
  t.same(listed.map((i) => i.name), names, 'sorted by name, no sidecars or nested keys');
  t.same(listed[1206 - 2], { name: 'lang1204', key: 'rootfs-lang1204.ext4', size: 8, lastModified: listed[1206 - 2]?.lastModified });

  const table = cli(['rootfs', 'list', '-r', '-b', 's3://runner-codes/team'], { env: server.env });
  t.equal(table.status, 0, table.stderr);
  const minute = (key: string) => statSync(server.objectPath(BUCKET, key)).mtime.toISOString().slice(0, 16).replace('T', ' ');
  t.equal(
    table.stdout,
    [
      'LANGUAGE  SIZE      LAST MODIFIED     S3 KEY',
      `go        0.1 MB    ${minute('team/rootfs-go.ext4')}  team/rootfs-go.ext4`,
      `python    3 MB      ${minute('team/rootfs-python.ext4')}  team/rootfs-python.ext4`,
      '',
    ].join('\n'),
  );
});

t.test('download without digest metadata: checked against the sidecar object (here a version 1 one under the key used before), else a warning', async (t) => {
  const server = await startS3rver(t, [BUCKET]);
  const out = tempDir(t);
  const body = sparseBody();
  putOnDisk(server, BUCKET, 'rootfs-java.ext4', body);
  const sidecar = { name: 'java', image: 'eclipse-temurin:21-alpine', digest: `sha256:${'cd'.repeat(32)}`, size: body.length, usedBytes: 1, inodes: { count: 2, used: 1 }, sha256: sha256(body), toolVersion: '0.1.0', builtAt: '2026-01-01T00:00:00.000Z', imageMtimeMs: 1 };
  putOnDisk(server, BUCKET, 'rootfs-java.json', Buffer.from(JSON.stringify(sidecar)));

  const ok = cli(['rootfs', 'download', '-l', 'java', '-o', out], { env: server.env });
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /sha256 [0-9a-f]{64} verified/);
  const downloaded = join(out, 'rootfs-java.ext4');
  t.equal(sha256(readFileSync(downloaded)), sha256(body));
  const st = statSync(downloaded);
  t.ok(st.blocks * 512 <= 2 * MIB, `zero blocks left as holes (${st.blocks * 512} bytes allocated)`);
  const local = JSON.parse(readFileSync(join(out, 'rootfs-java.ext4.json'), 'utf8'));
  t.equal(local.image, 'eclipse-temurin:21-alpine', 'sidecar placed beside the download, under the image name + .json');
  t.notOk(existsSync(join(out, 'rootfs-java.json')), 'and not under the old name');
  t.equal(local.imageMtimeMs, st.mtimeMs, 'and it describes the downloaded file');

  putOnDisk(server, BUCKET, 'rootfs-java.json', Buffer.from(JSON.stringify({ ...sidecar, sha256: 'e'.repeat(64) })));
  const target = join(out, 'java-bad.ext4');
  const bad = cli(['rootfs', 'download', '-l', 'java', '-o', target], { env: server.env });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /has sha256 [0-9a-f]{64}, but its sidecar says e{64}/);
  t.notOk(existsSync(target), 'nothing at the output path');

  putOnDisk(server, BUCKET, 'rootfs-php.ext4', body);
  const plain = cli(['rootfs', 'download', '-l', 'php', '-o', join(out, 'php.ext4')], { env: server.env });
  t.equal(plain.status, 0, plain.stderr);
  t.match(plain.stderr, /Warning: s3:\/\/runner-codes\/rootfs-php\.ext4 has no digest metadata and no sidecar: the download cannot be verified/);
  t.match(plain.stdout, /NOT verified/);
  t.equal(sha256(readFileSync(join(out, 'php.ext4'))), sha256(body));
  t.same(readdirSync(out).filter((f) => f.includes('partial')), [], 'no temporary files left');
});

t.test('endpoint from --endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL; images dir from the environment', async (t) => {
  const server = await startS3rver(t, [BUCKET]);
  putOnDisk(server, BUCKET, 'rootfs-ruby.ext4', Buffer.from('ruby'), { sha256: sha256(Buffer.from('ruby')) });
  const { AWS_ENDPOINT_URL_S3: _, ...noEndpoint } = server.env;
  t.match(cli(['rootfs', 'list', '-r', '--endpoint', server.endpoint], { env: noEndpoint }).stdout, /^ruby /m);
  t.match(cli(['rootfs', 'list', '-r'], { env: { ...noEndpoint, AWS_ENDPOINT_URL: server.endpoint } }).stdout, /^ruby /m);
  const images = join(tempDir(t), 'fresh', 'images');
  const r = cli(['rootfs', 'download', '--lang', 'ruby'], { env: { ...server.env, INFRA_OPERATOR_IMAGES_DIR: images } });
  t.equal(r.status, 0, r.stderr);
  t.equal(readFileSync(join(images, 'rootfs-ruby.ext4'), 'utf8'), 'ruby', 'default output: the images directory, created');
});

t.test('errors say what to check: no bucket, no object, refused credentials', async (t) => {
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  writeFileSync(join(images, 'rootfs-go.ext4'), 'go');

  const noBucket = cli(['rootfs', 'list', '--remote', '--bucket', 's3://no-such-bucket'], { env: server.env });
  t.equal(noBucket.status, 1);
  t.match(noBucket.stderr, /Bucket no-such-bucket does not exist .*aws s3 ls s3:\/\/no-such-bucket\//);

  const upload = cli(['rootfs', 'upload', '--lang', 'go', '--images-dir', images, '-b', 's3://no-such-bucket'], { env: server.env });
  t.equal(upload.status, 1);
  t.match(upload.stderr, /Bucket no-such-bucket does not exist .*not created for you/);
  t.notOk(existsSync(join(server.dir, 'no-such-bucket')), 'the bucket was not created');

  const noObject = cli(['rootfs', 'download', '--lang', 'cobol', '-o', join(images, 'x.ext4')], { env: server.env });
  t.equal(noObject.status, 1);
  t.match(noObject.stderr, /No object s3:\/\/runner-codes\/rootfs-cobol\.ext4\. 'infra\.operator rootfs list --remote/);

  const noImage = cli(['rootfs', 'upload', '--lang', 'cobol', '--images-dir', images], { env: server.env });
  t.equal(noImage.status, 1);
  t.match(noImage.stderr, /No image at .*rootfs-cobol\.ext4/);

  const badKey = cli(['rootfs', 'list', '--remote'], { env: { ...server.env, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' } });
  t.equal(badKey.status, 1);
  t.match(badKey.stderr, /S3 refused the listing of s3:\/\/runner-codes \(InvalidAccessKeyId.*aws sts get-caller-identity/);

  const { AWS_ACCESS_KEY_ID: _a, AWS_SECRET_ACCESS_KEY: _s, ...noCredentials } = server.env;
  const none = cli(['rootfs', 'list', '--remote'], { env: noCredentials });
  t.equal(none.status, 1);
  t.match(none.stderr, /No AWS credentials found .*aws sts get-caller-identity/);

  const badBucket = cli(['rootfs', 'list', '--remote', '--bucket', 's3://'], { env: server.env });
  t.equal(badBucket.status, 2);
  t.match(badBucket.stderr, /Invalid bucket/);
});

t.test('upload: a stale version 1 sidecar (under the old name) is not trusted; its sha256 is computed again', async (t) => {
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  const body = randomBytes(3 * MIB);
  const image = join(images, 'rootfs-lua.ext4');
  writeFileSync(image, body);
  const stale = { name: 'lua', image: 'lua:5', digest: `sha256:${'12'.repeat(32)}`, size: body.length, usedBytes: 1, inodes: { count: 2, used: 1 }, sha256: 'f'.repeat(64), toolVersion: '0.1.0', builtAt: '2026-01-01T00:00:00.000Z', imageMtimeMs: statSync(image).mtimeMs - 1000 };
  writeFileSync(join(images, 'rootfs-lua.json'), JSON.stringify(stale));
  const r = cli(['rootfs', 'upload', '-l', 'lua', '--images-dir', images], { env: server.env });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /Warning: .*rootfs-lua\.ext4 changed since its sidecar was written: its sha256 was computed again/);
  const metadata = JSON.parse(readFileSync(server.objectPath(BUCKET, 'rootfs-lua.ext4').replace(/_object$/, '_metadata.json'), 'utf8'));
  t.equal(metadata['x-amz-meta-sha256'], sha256(body));
  const remoteSidecar = JSON.parse(readFileSync(server.objectPath(BUCKET, 'rootfs-lua.ext4.json'), 'utf8'));
  t.equal(remoteSidecar.sha256, sha256(body), 'the uploaded sidecar carries the verified sha256');
  t.equal(remoteSidecar.image, 'lua:5');
});

t.test('progress bars are drawn on a terminal only (stderr a pty, via script)', async (t) => {
  if (!prerequisites(t, { tools: ['script'] })) return;
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  writeFileSync(join(images, 'rootfs-tty.ext4'), randomBytes(2 * MIB));
  const { NODE_OPTIONS: _, ...env } = server.env;
  const command = `${process.execPath} ${CLI} rootfs upload -l tty --images-dir ${images} && ${process.execPath} ${CLI} rootfs download -l tty -o ${images}/copy.ext4`;
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { env, encoding: 'utf8', timeout: 120_000 });
  t.equal(r.status, 0, r.stdout);
  t.match(r.stdout, /\rUploading \[#{30}\] 100% 2\/2 MiB/);
  t.match(r.stdout, /\rDownloading \[#{30}\] 100% 2\/2 MiB/);
});

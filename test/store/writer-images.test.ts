/**
 * Images made by our own writer (`rootfs from-docker` from the Alpine rootfs tarball):
 * list, inspect and an S3 round trip read them as they read mke2fs-made ones.
 */
import t from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { startS3rver } from '../helpers/s3rver.js';
import { cli } from '../helpers/cli.js';
import { compositeSha256Of, dumpe2fs, sha256Of } from './fixtures.js';

t.test('from-docker output: sidecar, list, inspect, upload and download', async (t) => {
  if (!prerequisites(t, { tools: ['dumpe2fs'], files: [ALPINE_X86] })) return;
  const images = tempDir(t);
  const built = cli(['rootfs', 'from-docker', '-n', 'alpine', '-i', `tar:${ALPINE_X86}`, '-s', '64', '--images-dir', images, '-q']);
  t.equal(built.status, 0, built.stderr);
  const image = join(images, 'rootfs-alpine.ext4');
  const sidecar = JSON.parse(readFileSync(join(images, 'rootfs-alpine.ext4.json'), 'utf8'));
  const sha = await sha256Of(image);
  const chunked = compositeSha256Of(image).hex;
  t.equal(sidecar.version, 2);
  t.equal(sidecar.chunkedSha256, chunked, 'the builder wrote the sidecar through writeSidecar');
  t.equal(sidecar.imageMtimeMs, statSync(image).mtimeMs);

  const list = cli(['rootfs', 'list', '--images-dir', images, '--json']);
  t.same(JSON.parse(list.stdout).map((i: { name: string; chunkedSha256: string; image: string }) => [i.name, i.chunkedSha256, i.image]), [
    ['alpine', chunked, `tar:${ALPINE_X86}`],
  ]);

  const facts = JSON.parse(cli(['rootfs', 'inspect', image, '--json']).stdout);
  const d = dumpe2fs(image);
  t.equal(facts.filesystem.uuid, d.get('Filesystem UUID'));
  t.equal(facts.filesystem.inodes.free, Number(d.get('Free inodes')));
  t.equal(facts.filesystem.freeBytes, Number(d.get('Free blocks')) * Number(d.get('Block size')));
  t.equal(facts.filesystem.inodes.used, sidecar.inodes.used, 'the sidecar and the superblock agree on inodes');
  t.equal(facts.filesystem.usedBytes, sidecar.usedBytes, 'and on used bytes');
  const osRelease = cli(['rootfs', 'inspect', image, '--cat', '/etc/os-release']);
  t.match(osRelease.stdout, /^ID=alpine$/m, 'libext2fs reads files our writer wrote');

  const server = await startS3rver(t, ['runner-codes']);
  t.equal(cli(['rootfs', 'upload', '-l', 'alpine', '--images-dir', images], { env: server.env }).status, 0);
  const out = tempDir(t);
  const down = cli(['rootfs', 'download', '-l', 'alpine', '-o', out], { env: server.env });
  t.equal(down.status, 0, down.stderr);
  t.equal(await sha256Of(join(out, 'rootfs-alpine.ext4')), sha);
  t.ok(statSync(join(out, 'rootfs-alpine.ext4')).blocks <= statSync(image).blocks + 256, 'as sparse as the original');
});

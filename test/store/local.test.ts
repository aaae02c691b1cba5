/** Local images: paths, sidecars, the superblock reader, and `rootfs list` / `rootfs inspect`. */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prerequisites, tempDir } from '../helpers/env.js';
import { legacySidecarPathFor, resolveRootfsPath, resolveImagesDir, sidecarPathFor, DEFAULT_IMAGES_DIR } from '../../src/store/paths.js';
import { imageDigest, parseSidecar, readSidecar, writeSidecar } from '../../src/store/sidecar.js';
import { readSuperblock, withExt4File } from '../../src/ext4/reader.js';
import { inspectRootfs } from '../../src/api/inspect.js';
import { cli, cliBytes } from '../helpers/cli.js';
import { makeExt4, specTree } from '../helpers/mke2fs.js';
import { compositeSha256Of, dumpe2fs, MIB, sha256Of } from './fixtures.js';

const TOOLS = { tools: ['mke2fs', 'dumpe2fs', 'truncate'] };
const PYTHON_FACTS = {
  name: 'python',
  image: 'python:3.12-alpine',
  digest: `sha256:${'ab'.repeat(32)}`,
  platform: { os: 'linux', architecture: 'amd64' },
  usedBytes: 123456,
  inodes: { count: 1000, used: 20 },
};

t.test('images directory: --images-dir > INFRA_OPERATOR_IMAGES_DIR > default', async (t) => {
  t.equal(resolveImagesDir({ imagesDir: '/a', env: { INFRA_OPERATOR_IMAGES_DIR: '/b' } }), '/a');
  t.equal(resolveImagesDir({ env: { INFRA_OPERATOR_IMAGES_DIR: '/b' } }), '/b');
  t.equal(resolveImagesDir({ env: {} }), DEFAULT_IMAGES_DIR);
  t.equal(DEFAULT_IMAGES_DIR, '/srv/firecracker/images');
  const dir = tempDir(t);
  t.equal(resolveRootfsPath('go', { output: dir, imagesDir: '/a' }), join(dir, 'rootfs-go.ext4'), '--output directory');
  t.equal(resolveRootfsPath('go', { output: '/x/y.img', imagesDir: '/a' }), '/x/y.img', '--output file');
  t.equal(resolveRootfsPath('go', { imagesDir: '/a' }), '/a/rootfs-go.ext4');
  t.equal(sidecarPathFor('/a/rootfs-python.ext4'), '/a/rootfs-python.ext4.json');
  t.equal(sidecarPathFor('/a/disk.img'), '/a/disk.img.json');
  t.equal(legacySidecarPathFor('/a/rootfs-python.ext4'), '/a/rootfs-python.json', 'the name before version 2');
  t.equal(legacySidecarPathFor('/a/disk.img'), undefined, 'the same name then as now');
  t.throws(() => resolveRootfsPath('../etc', { imagesDir: '/a' }), { code: 'USAGE' });
});

t.test('sidecar: version 2 written beside the image, its digest trusted only while size and mtime match', async (t) => {
  if (!prerequisites(t, TOOLS)) return;
  const dir = tempDir(t);
  const image = join(dir, 'rootfs-python.ext4');
  makeExt4(image, 16, specTree({ 'etc/hostname': 'python\n' }, dir));
  const written = await writeSidecar(image, PYTHON_FACTS);
  const st = statSync(image);
  t.equal(written.version, 2);
  t.equal(written.chunkSize, 16 * MIB);
  t.equal(written.chunkedSha256, compositeSha256Of(image).hex, 'the chunked sha256: S3 composite of 16 MiB parts');
  t.notOk('sha256' in written, 'no plain sha256: it is computed on demand (inspect --sha256)');
  t.equal(written.size, 16 * MIB);
  t.equal(written.imageMtimeMs, st.mtimeMs);
  t.match(written.builtAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.same(await readSidecar(image), written, 'read back as written');
  t.equal(JSON.parse(readFileSync(join(dir, 'rootfs-python.ext4.json'), 'utf8')).image, 'python:3.12-alpine', 'rootfs-python.ext4.json beside it');

  // A sidecar that matches size and mtime is believed without reading the image…
  const planted = { ...written, chunkedSha256: '0'.repeat(64) };
  t.same(await imageDigest(image, planted), { digest: { kind: 'chunked-sha256', hex: '0'.repeat(64) }, fromSidecar: true });
  // …and one for another mtime is not; a version 1 sidecar is checked by the plain sha256.
  utimesSync(image, new Date(), new Date(Date.now() + 5000));
  t.same(await imageDigest(image, planted), { digest: { kind: 'chunked-sha256', hex: written.chunkedSha256 }, fromSidecar: false });
  const { version: _, chunkSize: _c, chunkedSha256: _s, ...facts } = written;
  t.same(await imageDigest(image, { ...facts, sha256: '0'.repeat(64) }), { digest: { kind: 'sha256', hex: await sha256Of(image) }, fromSidecar: false });

  t.throws(() => parseSidecar('{"name":"x"}', 'x.json'), { code: 'INPUT', message: /x\.json is not an infra\.operator sidecar: .*must have required property 'image'/ });
  t.throws(() => parseSidecar('nope', 'x.json'), { code: 'INPUT', message: /not valid JSON/ });
  t.equal(await readSidecar(join(dir, 'rootfs-none.ext4')), undefined);
});

t.test('superblock reader agrees with dumpe2fs', async (t) => {
  if (!prerequisites(t, TOOLS)) return;
  const dir = tempDir(t);
  const image = join(dir, 'rootfs-go.ext4');
  makeExt4(image, 40, specTree({ 'usr/bin/blob': randomBytes(3 * MIB), 'etc/os-release': 'ID=test\n' }, dir));
  const sb = await readSuperblock(image);
  const d = dumpe2fs(image);
  t.equal(sb.uuid, d.get('Filesystem UUID'));
  t.equal(sb.volumeName, d.get('Filesystem volume name'));
  t.equal(sb.blockSize, Number(d.get('Block size')));
  t.equal(sb.blocksCount, Number(d.get('Block count')));
  t.equal(sb.freeBlocks, Number(d.get('Free blocks')));
  t.equal(sb.inodesCount, Number(d.get('Inode count')));
  t.equal(sb.freeInodes, Number(d.get('Free inodes')));
  t.equal(sb.inodeSize, Number(d.get('Inode size')));
  t.same(sb.features, d.get('Filesystem features')?.split(' '));
  t.equal(sb.state, 'clean');
  const notExt4 = join(dir, 'zeros.img');
  writeFileSync(notExt4, Buffer.alloc(8192));
  await t.rejects(readSuperblock(notExt4), { code: 'INPUT' });
});

t.test('rootfs list: the spec table, sorted, with and without sidecars', async (t) => {
  if (!prerequisites(t, TOOLS)) return;
  const dir = tempDir(t);
  const scratch = tempDir(t);
  makeExt4(join(dir, 'rootfs-python.ext4'), 150, specTree({ 'etc/hostname': 'python\n' }, scratch));
  makeExt4(join(dir, 'rootfs-nodejs.ext4'), 200, specTree({ 'etc/hostname': 'nodejs\n' }, scratch));
  makeExt4(join(dir, 'rootfs-go.ext4'), 300, specTree({}, scratch));
  await writeSidecar(join(dir, 'rootfs-python.ext4'), PYTHON_FACTS);
  writeFileSync(join(dir, 'rootfs-nodejs.ext4.json'), '{"broken": ');
  writeFileSync(join(dir, 'rootfs-go.json'), '{"a user\'s file": "under the name sidecars had before version 2"}');
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  writeFileSync(join(dir, 'rootfs-other.img'), 'not an image either');

  const r = cli(['rootfs', 'list', '--images-dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.equal(
    r.stdout,
    [
      'LANGUAGE  SIZE      PATH',
      `go        300 MB    ${dir}/rootfs-go.ext4`,
      `nodejs    200 MB    ${dir}/rootfs-nodejs.ext4`,
      `python    150 MB    ${dir}/rootfs-python.ext4`,
      '',
    ].join('\n'),
  );
  t.match(r.stderr, /Warning: .*rootfs-nodejs\.ext4\.json is not an infra\.operator sidecar: not valid JSON/, 'a broken sidecar is reported, the image still listed');
  t.notMatch(r.stderr, /rootfs-go/, 'a file under the old sidecar name that is not one is someone else\'s: ignored');

  const viaEnv = cli(['rootfs', 'list', '--json'], { env: { ...process.env, INFRA_OPERATOR_IMAGES_DIR: dir } });
  t.equal(viaEnv.status, 0, viaEnv.stderr);
  const listed = JSON.parse(viaEnv.stdout) as Record<string, unknown>[];
  t.same(listed.map((i) => i.name), ['go', 'nodejs', 'python']);
  const python = listed[2] ?? {};
  t.equal(python.image, 'python:3.12-alpine');
  t.equal(python.digest, PYTHON_FACTS.digest);
  t.equal(python.chunkedSha256, compositeSha256Of(join(dir, 'rootfs-python.ext4')).hex);
  t.equal(python.size, 150 * MIB);
  t.notOk('image' in (listed[0] ?? {}), 'no sidecar, no source facts');

  const longName = join(dir, 'rootfs-dotnet-sdk-alpine.ext4');
  linkSync(join(dir, 'rootfs-go.ext4'), longName);
  const wide = cli(['rootfs', 'list', '--images-dir', dir]);
  t.match(wide.stdout, /^LANGUAGE {11}SIZE {6}PATH\ndotnet-sdk-alpine  300 MB    /, 'columns widen for long names');

  const missing = cli(['rootfs', 'list', '--images-dir', join(dir, 'nope')]);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /Images directory .*nope does not exist: pass --images-dir/);
});

t.test('rootfs list: files that are not whole ext4 images are named under the table, the three columns kept', async (t) => {
  if (!prerequisites(t, TOOLS)) return;
  const dir = tempDir(t);
  const scratch = tempDir(t);
  makeExt4(join(dir, 'rootfs-python.ext4'), 16, specTree({ 'etc/hostname': 'python\n' }, scratch));
  makeExt4(join(dir, 'rootfs-cut.ext4'), 16, specTree({}, scratch));
  truncateSync(join(dir, 'rootfs-cut.ext4'), MIB);
  writeFileSync(join(dir, 'rootfs-empty.ext4'), '');
  writeFileSync(join(dir, 'rootfs-notes.ext4'), 'my notes about images\n'.repeat(200));

  const r = cli(['rootfs', 'list', '--images-dir', dir]);
  t.equal(r.status, 0, r.stderr);
  t.equal(
    r.stdout,
    [
      'LANGUAGE  SIZE      PATH',
      `cut       1 MB      ${dir}/rootfs-cut.ext4`,
      `empty     0 MB      ${dir}/rootfs-empty.ext4`,
      `notes     0.0 MB    ${dir}/rootfs-notes.ext4`,
      `python    16 MB     ${dir}/rootfs-python.ext4`,
      '',
    ].join('\n'),
    'stdout: the three columns only',
  );
  t.equal(
    r.stderr,
    [
      '',
      'Not valid images (they cannot boot; rebuild or remove them):',
      `  ${dir}/rootfs-cut.ext4: truncated: ${MIB} of the ${16 * MIB} bytes its superblock declares`,
      `  ${dir}/rootfs-empty.ext4: empty`,
      `  ${dir}/rootfs-notes.ext4: not an ext4 image (no ext4 superblock magic)`,
      '',
    ].join('\n'),
    'stderr: the note under the table names each broken file and why',
  );

  const json = cli(['rootfs', 'list', '--images-dir', dir, '--json']);
  t.equal(json.status, 0, json.stderr);
  const listed = JSON.parse(json.stdout) as Array<{ name: string; problem?: string }>;
  t.same(
    listed.map((i) => [i.name, i.problem]),
    [
      ['cut', `truncated: ${MIB} of the ${16 * MIB} bytes its superblock declares`],
      ['empty', 'empty'],
      ['notes', 'not an ext4 image (no ext4 superblock magic)'],
      ['python', undefined],
    ],
  );
  t.equal(json.stderr, '', 'with --json the problems are fields');

  const clean = tempDir(t);
  makeExt4(join(clean, 'rootfs-go.ext4'), 16, specTree({}, scratch));
  t.equal(cli(['rootfs', 'list', '--images-dir', clean]).stderr, '', 'no note when every image is whole');
});

t.test('rootfs inspect: sidecar facts, superblock facts, --ls and --cat through libext2fs', async (t) => {
  if (!prerequisites(t, TOOLS)) return;
  const dir = tempDir(t);
  const image = join(dir, 'rootfs-python.ext4');
  const blob = randomBytes(3 * MIB + 17);
  makeExt4(image, 64, specTree({ 'etc/hostname': 'python\n', 'usr/bin/blob': blob, 'bin/sh': { symlink: '/usr/bin/blob' } }, dir), 'testvol');
  const d = dumpe2fs(image);
  const blockSize = Number(d.get('Block size'));

  const bare = cli(['rootfs', 'inspect', image]);
  t.equal(bare.status, 0, bare.stderr);
  t.match(bare.stdout, /^Sidecar: +none/m);
  t.match(bare.stdout, new RegExp(`^UUID: +${d.get('Filesystem UUID')}$`, 'm'));
  t.match(bare.stdout, /^Volume name: +testvol$/m);
  t.match(bare.stdout, /^File size: +64 MB \(67108864 bytes/m);
  const inodes = Number(d.get('Inode count'));
  const freeInodes = Number(d.get('Free inodes'));
  t.match(bare.stdout, new RegExp(`^Inodes: +${inodes - freeInodes} used of ${inodes} \\(${freeInodes} free\\)`, 'm'));
  t.match(bare.stdout, new RegExp(`^Free: +.*\\(${Number(d.get('Free blocks')) * blockSize} bytes\\)$`, 'm'));
  t.match(bare.stdout, /^Features: +has_journal .*extent.*metadata_csum/m);

  await writeSidecar(image, PYTHON_FACTS);
  const byName = cli(['rootfs', 'inspect', 'python', '--images-dir', dir, '--json']);
  t.equal(byName.status, 0, byName.stderr);
  const facts = JSON.parse(byName.stdout);
  t.equal(facts.sidecar.image, 'python:3.12-alpine');
  t.equal(facts.sidecar.chunkedSha256, compositeSha256Of(image).hex);
  t.equal(facts.sidecarStale, false);
  t.notOk('sha256' in facts, 'the plain sha256 only when asked for');
  t.equal(facts.filesystem.inodes.count, inodes);
  t.equal(facts.filesystem.usedBytes, (Number(d.get('Block count')) - Number(d.get('Free blocks'))) * blockSize);
  t.ok(facts.allocatedBytes < facts.fileSize / 4, 'the mke2fs image is sparse');
  const human = cli(['rootfs', 'inspect', 'python', '--images-dir', dir]);
  t.match(human.stdout, /^Source image: +python:3\.12-alpine$/m);
  t.match(human.stdout, /^Platform: +linux\/amd64$/m);
  t.match(human.stdout, new RegExp(`^Chunked sha256: +${facts.sidecar.chunkedSha256} \\(16 MiB chunks\\)$`, 'm'));
  const withSha = cli(['rootfs', 'inspect', 'python', '--images-dir', dir, '--sha256']);
  t.match(withSha.stdout, new RegExp(`^File sha256: +${await sha256Of(image)}$`, 'm'), '--sha256: the plain sha256, computed now');
  t.equal(JSON.parse(cli(['rootfs', 'inspect', image, '--sha256', '--json']).stdout).sha256, await sha256Of(image));

  const ls = cli(['rootfs', 'inspect', image, '--ls', 'bin']);
  t.equal(ls.status, 0, ls.stderr);
  t.match(ls.stdout, /^lrwxrwxrwx +0 +0 +\d+ +sh -> \/usr\/bin\/blob\n$/);
  const lsUsr = cli(['rootfs', 'inspect', image, '--ls', '/usr/bin', '--json']);
  t.same(JSON.parse(lsUsr.stdout).map((e: { name: string; size: number; type: string }) => [e.name, e.size, e.type]), [['blob', blob.length, '-']]);
  const raw = cliBytes(['rootfs', 'inspect', image, '--cat', '/bin/sh']);
  t.equal(raw.status, 0);
  t.ok(Buffer.compare(raw.stdout, blob) === 0, '--cat streams the exact bytes, symlink followed');

  const notExt4 = join(dir, 'plain.ext4');
  writeFileSync(notExt4, Buffer.alloc(4096));
  const bad = cli(['rootfs', 'inspect', notExt4]);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^Error: .*plain\.ext4 is not an ext2\/3\/4 filesystem image/);

  // Stale: the image changed after its sidecar was written.
  utimesSync(image, new Date(), new Date(Date.now() + 10_000));
  const stale = cli(['rootfs', 'inspect', image]);
  t.match(stale.stdout, /^Chunked sha256: +[0-9a-f]{64} \(16 MiB chunks\) \(stale: /m);
});

t.test('the libext2fs reader: listings, file bytes and errors, without the CLI', async (t) => {
  if (!prerequisites(t, TOOLS)) return;
  const dir = tempDir(t);
  const image = join(dir, 'rootfs-x.ext4');
  makeExt4(image, 16, specTree({ 'etc/hostname': 'x\n', 'etc/motd': '', 'usr/bin/sh': 'shell', bin: { symlink: 'usr/bin' } }, dir));
  const before = await sha256Of(image);
  const mtimeBefore = statSync(image).mtimeMs;
  await withExt4File(image, async (fs) => {
    t.same((await fs.list('/')).map((e) => [e.name, e.type, e.target]), [
      ['bin', 'l', 'usr/bin'],
      ['etc', 'd', undefined],
      ['lost+found', 'd', undefined],
      ['usr', 'd', undefined],
    ]);
    t.same((await fs.list('/bin')).map((e) => e.name), ['sh'], 'a symlinked directory is followed (usrmerge /bin)');
    t.same((await fs.list('etc')).map((e) => [e.name, e.type, e.size, e.permissions]), [
      ['hostname', '-', 2, 0o644],
      ['motd', '-', 0, 0o644],
    ]);
    const chunks: Buffer[] = [];
    for await (const c of fs.read('/etc/hostname')) chunks.push(c);
    t.equal(Buffer.concat(chunks).toString(), 'x\n');
    const empty: Buffer[] = [];
    for await (const c of fs.read('/etc/motd')) empty.push(c);
    t.equal(empty.length, 0, 'an empty file yields nothing');
    await t.rejects(fs.list('/nope'), { code: 'NOT_FOUND', message: /\/nope does not exist in .*rootfs-x\.ext4/ });
    await t.rejects(fs.list('/etc/hostname'), { code: 'INPUT', option: 'ls', message: /is not a directory: read files with the cat option/ });
    await t.rejects(async () => {
      for await (const _ of fs.read('/etc')) void _;
    }, { code: 'INPUT', option: 'cat', message: /\/etc in .* is not a regular file: list directories with the ls option/ });
  });
  t.equal(await sha256Of(image), before, 'reading leaves the image as it was (no atime, no mount count)');
  t.equal(statSync(image).mtimeMs, mtimeBefore);
  await t.rejects(inspectRootfs(join(dir, 'rootfs-ghost.ext4')), { code: 'NOT_FOUND', message: /No image at .*rootfs-ghost\.ext4/ });
});

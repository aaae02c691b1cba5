/**
 * Image → tree through the real pieces: layer blobs on disk (`fileLayer`, which verifies
 * digests), gzip, the tar reader, and layers written by GNU tar itself where it can make
 * them. Cases 20, 24 and 25 of layers.md are here.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, linkSync, mkdirSync, openSync, readFileSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { fileLayer } from '../../src/image/layer.js';
import type { Image } from '../../src/image/types.js';
import { flatten, type FlattenProgress } from '../../src/layers/flatten.js';
import type { FileInode, SymlinkInode } from '../../src/tree/tree.js';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { listing, lookup } from '../helpers/members.js';
import { OCI, sha256 } from '../helpers/oci-build.js';
import { buildLayer, member, tarball } from '../helpers/tar-build.js';

const GIB = 2 ** 30;

interface BlobSpec {
  file: string;
  mediaType?: string;
  /** Defaults to the file's real digest. */
  digest?: string;
  diffId?: string;
}

function imageOf(blobs: BlobSpec[], whiteouts = true): Image {
  const layers = blobs.map((blob, index) => {
    const data = readFileSync(blob.file);
    return fileLayer({
      index,
      digest: blob.digest ?? sha256(data),
      size: data.length,
      mediaType: blob.mediaType ?? OCI.layerTar,
      file: blob.file,
      ...(blob.diffId !== undefined && { diffId: blob.diffId }),
    });
  });
  return {
    reference: 'test:flatten',
    digest: sha256(blobs.map((b) => b.file).join()),
    config: { env: [], entrypoint: [], cmd: [], workingDir: '', user: '' },
    layers,
    whiteouts,
  };
}

function write(path: string, data: string | Buffer): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
  return path;
}

function fileAt(root: Parameters<typeof lookup>[0], path: string): FileInode {
  const inode = lookup(root, path);
  if (inode?.kind !== 'file') throw new Error(`${path} is ${inode?.kind ?? 'missing'}, not a file`);
  return inode;
}

/** Layer 1, GNU format: long names, a 9 GiB sparse file (base-256 numbers), links, setuid. */
function gnuLowerLayer(dir: string): string {
  const src = join(dir, 'src1');
  write(join(src, 'usr/lib/libc.so'), 'LIBC');
  symlinkSync('usr/lib', join(src, 'lib'));
  write(join(src, 'bin/su'), 'SU');
  chmodSync(join(src, 'bin/su'), 0o4755);
  linkSync(join(src, 'bin/su'), join(src, 'bin/su-link'));
  write(join(src, 'deep', 'n'.repeat(120)), 'LONG');
  write(join(src, 'etc/conf'), 'old');
  write(join(src, 'etc/gone'), 'G');
  write(join(src, 'opt/stuff/a'), 'A');
  write(join(src, 'opt/stuff/b'), 'B');
  const huge = join(src, 'var/huge');
  write(huge, '');
  truncateSync(huge, 9 * GIB);
  const fd = openSync(huge, 'r+');
  writeSync(fd, 'head', 0);
  writeSync(fd, 'tail', 9 * GIB - 4);
  closeSync(fd);
  const tar = join(dir, 'l1.tar');
  execFileSync('tar', ['--format=gnu', '--sparse', '--numeric-owner', '-cf', tar, '-C', src, '.']);
  return tar;
}

/** Layer 2, PAX format with xattrs: whiteouts, an opaque marker last, a file through `lib`. */
function paxUpperLayer(dir: string): string {
  const src = join(dir, 'src2');
  write(join(src, 'lib/x.so'), 'X');
  write(join(src, 'etc/.wh.gone'), '');
  write(join(src, 'opt/stuff/c'), 'C');
  write(join(src, 'opt/stuff/.wh..wh..opq'), '');
  write(join(src, 'etc/conf'), 'new');
  execFileSync('setfattr', ['-n', 'user.k', '-v', 'v', join(src, 'etc/conf')]);
  const tar = join(dir, 'l2.tar');
  const members = ['lib/x.so', 'etc/.wh.gone', 'opt/stuff/c', 'opt/stuff/.wh..wh..opq', 'etc/conf'];
  execFileSync('tar', ['--format=pax', '--xattrs', '--numeric-owner', '--no-recursion', '-cf', tar, '-C', src, ...members]);
  return tar;
}

t.test('two layers written by GNU tar, the lower one gzipped', async (t) => {
  if (!prerequisites(t, { tools: ['tar', 'setfattr'] })) return;
  const dir = tempDir(t);
  const lower = gnuLowerLayer(dir);
  const lowerGz = write(join(dir, 'l1.tar.gz'), gzipSync(readFileSync(lower)));
  const upper = paxUpperLayer(dir);
  const image = imageOf([
    { file: lowerGz, mediaType: OCI.layerGzip, diffId: sha256(readFileSync(lower)) },
    { file: upper, diffId: sha256(readFileSync(upper)) },
  ]);
  const sink = new MemorySink();
  const events: FlattenProgress[] = [];
  const { root, stats, layers, tarBytes } = await flatten(image, sink, { progress: (e) => events.push(e) });

  t.same(listing(root), [
    'bin/',
    'bin/su',
    'bin/su-link',
    'deep/',
    `deep/${'n'.repeat(120)}`,
    'etc/',
    'etc/conf',
    'lib',
    'opt/',
    'opt/stuff/',
    'opt/stuff/c',
    'usr/',
    'usr/lib/',
    'usr/lib/libc.so',
    'usr/lib/x.so',
    'var/',
    'var/huge',
  ]);
  t.equal((lookup(root, 'lib') as SymlinkInode).target, 'usr/lib');
  t.equal(sink.text(fileAt(root, 'usr/lib/x.so').content), 'X', 'lib/x.so landed through the symlink');
  t.equal(lookup(root, 'bin/su')?.mode, 0o4755, 'setuid kept');
  t.equal(lookup(root, 'bin/su-link'), lookup(root, 'bin/su'), 'GNU tar hard link: one inode');
  t.equal(sink.text(fileAt(root, 'etc/conf').content), 'new');
  t.same(fileAt(root, 'etc/conf').xattrs.get('user.k'), Buffer.from('v'), 'PAX xattr from GNU tar');
  t.equal(sink.text(fileAt(root, `deep/${'n'.repeat(120)}`).content), 'LONG', 'case 24: long name');
  const huge = fileAt(root, 'var/huge');
  t.equal(huge.content.size, 9 * GIB, 'case 24: size past 8 GiB (base-256)');
  t.equal(sink.slice(huge.content, 0, 4).toString(), 'head');
  t.equal(sink.slice(huge.content, 9 * GIB - 4, 4).toString(), 'tail');
  t.same(sink.slice(huge.content, 4 * GIB, 8), Buffer.alloc(8), 'a hole reads as zeros');
  t.same(
    sink.released.map((c) => sink.text(c)).sort(),
    ['A', 'B', 'G', 'old'],
    'whited-out and replaced contents released once each',
  );
  t.same(sink.accountingProblems(root), []);

  t.equal(layers.length, 2);
  t.equal(layers[1].whiteouts, 2);
  t.equal(stats.files, layers[0].files + layers[1].files);
  t.equal(stats.hardlinks, 1);
  t.equal(tarBytes, readFileSync(lower).length + readFileSync(upper).length, 'every uncompressed byte counted');
  t.same(
    events.map((e) => `${e.phase} ${e.index + 1}/${e.count}`),
    ['start 1/2', 'done 1/2', 'start 2/2', 'done 2/2'],
  );
  t.same(events[3].stats, layers[1]);
});

t.test('cases 20, 22 and 24 through the tar reader: binary xattrs, devices, long names, huge sizes', async (t) => {
  const dir = tempDir(t);
  const capability = Buffer.from('0100000201000000ff000000000000000000000000', 'hex');
  const longName = `usr/${'x'.repeat(150)}/bin/tool`;
  const layer = buildLayer([
    { path: longName, data: 'T', mode: 0o755, xattrs: { 'security.capability': capability, 'security.selinux': 'system_u:object_r:bin_t:s0' } },
    { path: 'ns', data: '', mtime: { sec: 1_700_000_000, nsec: 123_456_789 } },
    { path: 'dev/null', type: 'char', devMajor: 1, devMinor: 3, mode: 0o666 },
    { path: 'dev/sda', type: 'block', devMajor: 8, devMinor: 0, mode: 0o660 },
    { path: 'run/initctl', type: 'fifo', mode: 0o600 },
  ]);
  // An old-GNU sparse member whose real size needs base-256: 4 bytes of data at 9 GiB.
  const sparse = member(
    { name: 'huge', typeflag: 'S', format: 'gnu', size: 4, sparse: [[9 * GIB - 4, 4]], realsize: { base256: 9 * GIB } },
    'tail',
  );
  const second = tarball(sparse);
  const image = imageOf([
    { file: write(join(dir, 'a.tar'), layer) },
    { file: write(join(dir, 'b.tar'), second) },
  ]);
  const sink = new MemorySink();
  const { root } = await flatten(image, sink);
  const tool = fileAt(root, longName);
  t.ok(tool.xattrs.get('security.capability')?.equals(capability), 'capability byte for byte, 0xff included');
  t.notOk(tool.xattrs.has('security.selinux'), 'selinux label dropped');
  t.same(fileAt(root, 'ns').mtime, { sec: 1_700_000_000, nsec: 123_456_789 }, 'PAX ns mtime');
  t.match(lookup(root, 'dev/null'), { kind: 'char', major: 1, minor: 3, mode: 0o666 });
  t.match(lookup(root, 'dev/sda'), { kind: 'block', major: 8, minor: 0, mode: 0o660 });
  t.match(lookup(root, 'run/initctl'), { kind: 'fifo', mode: 0o600 });
  const huge = fileAt(root, 'huge');
  t.equal(huge.content.size, 9 * GIB);
  t.equal(sink.slice(huge.content, 9 * GIB - 4, 4).toString(), 'tail');

  const absurd = write(join(dir, 'absurd.tar'), buildLayer([{ path: 'dev/x', type: 'char', devMajor: 0o7777777, devMinor: 0 }]));
  await t.rejects(flatten(imageOf([{ file: absurd }]), new MemorySink()), {
    code: 'LAYER',
    message: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): char "dev\/x" has device number 2097151:0/,
  });
});

t.test('case 25: a blob or DiffID mismatch fails the build, naming the layer', async (t) => {
  const dir = tempDir(t);
  const good = write(join(dir, 'good.tar'), buildLayer([{ path: 'a', data: 'A' }]));
  const bad = write(join(dir, 'bad.tar'), buildLayer([{ path: 'b', data: 'B' }]));
  const wrongDigest = sha256('something else');
  await t.rejects(flatten(imageOf([{ file: good }, { file: bad, digest: wrongDigest }]), new MemorySink()), {
    code: 'INTEGRITY',
    layer: 2,
    message: new RegExp(wrongDigest),
  });
  const wrongDiffId = sha256('not the tar');
  const gz = write(join(dir, 'bad.tar.gz'), gzipSync(readFileSync(bad)));
  await t.rejects(
    flatten(imageOf([{ file: good }, { file: gz, mediaType: OCI.layerGzip, diffId: wrongDiffId }]), new MemorySink()),
    { code: 'INTEGRITY', layer: 2, message: new RegExp(`layer 2 .*${wrongDiffId}`) },
  );
});

t.test('errors name the layer they come from', async (t) => {
  const dir = tempDir(t);
  const good = write(join(dir, 'good.tar'), buildLayer([{ path: 'a', data: 'A' }]));
  const hostile = write(join(dir, 'hostile.tar'), buildLayer([{ path: '../../etc/passwd', data: 'x' }]));
  const hostileDigest = sha256(readFileSync(hostile));
  await t.rejects(flatten(imageOf([{ file: good }, { file: hostile }]), new MemorySink()), {
    code: 'LAYER',
    layer: 2,
    digest: hostileDigest,
    message: new RegExp(`^layer 2/2 \\(${hostileDigest}\\): file "\\.\\./\\.\\./etc/passwd" climbs out`),
  });
  const truncated = write(join(dir, 'truncated.tar'), buildLayer([{ path: 'big', data: Buffer.alloc(4096, 1) }]).subarray(0, 1024));
  await t.rejects(flatten(imageOf([{ file: truncated }]), new MemorySink()), { code: 'TAR', message: /^layer 1\/1 / });
});

t.test('the uncompressed byte budget stops a decompression bomb', async (t) => {
  const dir = tempDir(t);
  const small = write(join(dir, 'small.tar'), buildLayer([{ path: 'a', data: 'A' }]));
  // 64 MiB of zeros gzip to about 64 KiB.
  const bomb = write(join(dir, 'bomb.tar.gz'), gzipSync(buildLayer([{ path: 'zeros', data: Buffer.alloc(64 * 2 ** 20) }])));
  const sink = new MemorySink();
  await t.rejects(flatten(imageOf([{ file: small }, { file: bomb, mediaType: OCI.layerGzip }]), sink, { maxBytes: 8 * 2 ** 20 }), {
    code: 'SIZE',
    message: /^layer 2\/2 \(sha256:[0-9a-f]{64}\): the layers expand to more than 8388608 bytes/,
  });
  const within = await flatten(imageOf([{ file: small }]), new MemorySink(), { maxBytes: 8 * 2 ** 20 });
  t.equal(within.stats.files, 1, 'a layer within the budget applies');
});

t.test('the Alpine minirootfs as a plain rootfs tarball', async (t) => {
  if (!prerequisites(t, { tools: ['tar'], files: [ALPINE_X86] })) return;
  const image = imageOf([{ file: ALPINE_X86, mediaType: OCI.layerGzip }], false);
  const sink = new MemorySink();
  const { root, stats } = await flatten(image, sink);
  // GNU tar's own verbose listing: type letter first; counts by type must match ours.
  const verbose = execFileSync('tar', ['-tvzf', ALPINE_X86], { encoding: 'latin1', maxBuffer: 1 << 26 }).trim().split('\n');
  const countOf = (letter: string) => verbose.filter((line) => line.startsWith(letter)).length;
  t.equal(stats.entries, verbose.length, 'every member read');
  t.equal(stats.files, countOf('-'));
  t.equal(stats.dirs, countOf('d'));
  t.equal(stats.symlinks, countOf('l'));
  t.equal(stats.hardlinks, countOf('h'));
  t.equal((lookup(root, 'bin/sh') as SymlinkInode).target, '/bin/busybox');
  t.equal(lookup(root, 'bin/busybox')?.mode, 0o755);
  t.equal(sink.text(fileAt(root, 'etc/alpine-release').content), '3.20.3\n');
  t.equal(lookup(root, 'tmp')?.mode, 0o1777, 'sticky /tmp');
  const busybox = execFileSync('tar', ['-xzOf', ALPINE_X86, './bin/busybox'], { maxBuffer: 1 << 26 });
  t.ok(sink.bytes(fileAt(root, 'bin/busybox').content).equals(busybox), 'busybox byte for byte');
  t.same(sink.released, []);
  t.same(sink.accountingProblems(root), []);
});

t.test('the root and implied directories carry the time the caller chooses', async (t) => {
  const dir = tempDir(t);
  const layer = write(join(dir, 'l.tar'), buildLayer([{ path: 'implied/parent/file', data: 'F', mtime: 5 }]));
  const time = { sec: 1_600_000_000, nsec: 0 };
  const { root } = await flatten(imageOf([{ file: layer }]), new MemorySink(), { time });
  t.same(root.mtime, time);
  t.same(lookup(root, 'implied/parent')?.mtime, time);
  t.same(lookup(root, 'implied/parent/file')?.mtime, { sec: 5, nsec: 0 }, "the member's own time");
});

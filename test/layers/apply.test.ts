/**
 * The cases of /work/shared/notes/layers.md, one subtest each (24 and 25 need the tar
 * reader and a real layer blob: they are in flatten.test.ts). Every case also checks the
 * sink's bookkeeping: each content released exactly once, never one still in the tree.
 */
import t from 'tap';
import { applyLayer, type ApplyOptions, type LayerStats } from '../../src/layers/apply.js';
import type { TarMember } from '../../src/tar/entry.js';
import { inventedTime, makeRoot, type DirInode, type FileInode, type Inode } from '../../src/tree/tree.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { dir, entry, file, hardlink, layer, listing, lookup, member, namesOf, symlink } from '../helpers/members.js';

const IMAGE: ApplyOptions = { whiteouts: true };

interface Built {
  root: DirInode;
  sink: MemorySink;
  stats: LayerStats[];
}

async function build(layers: TarMember[][], options: ApplyOptions = IMAGE): Promise<Built> {
  const root = makeRoot(inventedTime());
  const sink = new MemorySink();
  const stats: LayerStats[] = [];
  for (const members of layers) stats.push(await applyLayer(root, layer(...members), sink, options));
  return { root, sink, stats };
}

function fileAt(built: Built, path: string): FileInode {
  const inode = lookup(built.root, path);
  if (inode?.kind !== 'file') throw new Error(`${path} is ${inode?.kind ?? 'missing'}, not a file`);
  return inode;
}

function textAt(built: Built, path: string): string {
  return built.sink.text(fileAt(built, path).content);
}

function releasedTexts(built: Built): string[] {
  return built.sink.released.map((c) => built.sink.text(c));
}

/** A tap subtest, as passed to `t.test` callbacks. */
type Asserts = Parameters<Parameters<typeof t.test>[0]>[0];

function accounted(tt: Asserts, built: Built): void {
  tt.same(built.sink.accountingProblems(built.root), [], 'every live content is in the tree, no released one is');
}

function implied(tt: Asserts, inode: Inode | undefined, what: string): void {
  tt.equal(inode?.kind, 'dir', `${what} is a directory`);
  tt.equal(inode?.mode, 0o755, `${what} has the implied mode`);
  tt.equal(inode?.uid, 0, `${what} is root's`);
  tt.same(inode?.mtime, inventedTime(), `${what} has the invented time`);
}

t.test('case 1: a plain whiteout removes a lower file', async (t) => {
  const b = await build([[file('a', 'A')], [file('.wh.a', '')]]);
  t.same(listing(b.root), []);
  t.same(releasedTexts(b), ['A']);
  t.equal(b.stats[1].whiteouts, 1);
  accounted(t, b);
});

t.test('case 2: a whiteout of a directory removes the whole subtree', async (t) => {
  const b = await build([[dir('d/'), file('d/x', 'X'), dir('d/y/'), file('d/y/z', 'Z')], [file('.wh.d', '')]]);
  t.same(listing(b.root), []);
  t.same(releasedTexts(b).sort(), ['X', 'Z']);
  accounted(t, b);
});

t.test('case 3: an opaque marker after the new entries still keeps them', async (t) => {
  for (const markerFirst of [false, true]) {
    const marker = file('d/.wh..wh..opq', '');
    const added = [dir('d/', { mode: 0o750 }), file('d/new', 'N')];
    const l2 = markerFirst ? [marker, ...added] : [...added, marker];
    const b = await build([[dir('d/'), file('d/x', 'X'), dir('d/old/'), file('d/old/y', 'Y')], l2]);
    t.same(listing(b.root), ['d/', 'd/new'], `marker ${markerFirst ? 'first' : 'last'}`);
    t.equal(lookup(b.root, 'd')?.mode, 0o750, 'the layer sets the directory metadata');
    t.same(releasedTexts(b).sort(), ['X', 'Y']);
    accounted(t, b);
  }
});

t.test('case 3, deeper: a lower subdirectory the layer wrote into keeps only the new files', async (t) => {
  const b = await build([
    [dir('d/'), dir('d/sub/', { mode: 0o700, uid: 7 }), file('d/sub/old', 'O'), file('d/sub/kept-lower', 'L')],
    [file('d/sub/new', 'N'), file('d/.wh..wh..opq', '')],
  ]);
  t.same(listing(b.root), ['d/', 'd/sub/', 'd/sub/new']);
  // As if the marker had come first: d/sub would then be a directory the layer implied.
  implied(t, lookup(b.root, 'd/sub'), 'd/sub');
  t.same(releasedTexts(b).sort(), ['L', 'O']);
  accounted(t, b);
});

t.test('case 4: whiteout, then the directory again, in one layer', async (t) => {
  const inOrder = [file('.wh.a', ''), dir('a/', { mode: 0o700 }), file('a/baz', 'B')];
  const reversed = [dir('a/', { mode: 0o700 }), file('a/baz', 'B'), file('.wh.a', '')];
  for (const [name, l2] of [['whiteout first', inOrder], ['whiteout last', reversed]] as const) {
    const b = await build([[dir('a/'), file('a/foo', 'F')], [...l2]]);
    t.same(listing(b.root), ['a/', 'a/baz'], name);
    t.equal(lookup(b.root, 'a')?.mode, 0o700, `${name}: metadata from the upper layer`);
    t.same(releasedTexts(b), ['F'], name);
    accounted(t, b);
  }
});

t.test('case 5: whiteout in one layer, new directory content in the next', async (t) => {
  const b = await build([[dir('a/'), file('a/foo', 'F')], [file('.wh.a', '')], [file('a/baz', 'B')]]);
  t.same(listing(b.root), ['a/', 'a/baz']);
  implied(t, lookup(b.root, 'a'), 'a');
  accounted(t, b);
  const stamped = await build([[file('a/baz', 'B')]], { whiteouts: true, time: { sec: 86_400, nsec: 0 } });
  t.same(lookup(stamped.root, 'a')?.mtime, { sec: 86_400, nsec: 0 }, 'the caller chooses the invented time');
});

t.test('case 6: whiteout of a missing path is a no-op; a bare .wh. is an error', async (t) => {
  const b = await build([[file('keep', 'K')], [file('.wh.missing', ''), file('d/.wh.missing', '')]]);
  t.same(listing(b.root), ['keep'], 'nothing removed, nothing created');
  await t.rejects(build([[file('.wh.', '')]]), { code: 'LAYER' });
  await t.rejects(build([[dir('d/'), file('d/.wh.', '')]]), { code: 'LAYER' });
});

t.test('case 7: a whiteout stored as a hard link entry is a whiteout', async (t) => {
  const b = await build([[file('a', 'A')], [member(entry('.wh.a', 'hardlink', { linkname: 'does/not/exist' }))]]);
  t.same(listing(b.root), []);
  t.same(releasedTexts(b), ['A']);
  accounted(t, b);
});

t.test('case 8: a file over a directory removes the subtree', async (t) => {
  const b = await build([[dir('a/'), file('a/x', 'X'), dir('a/y/'), file('a/y/z', 'Z')], [file('a', 'FILE')]]);
  t.same(listing(b.root), ['a']);
  t.equal(textAt(b, 'a'), 'FILE');
  t.same(releasedTexts(b).sort(), ['X', 'Z']);
  accounted(t, b);
});

t.test('case 9: a directory over a directory merges and replaces metadata', async (t) => {
  const xattrs = new Map([['user.k', Buffer.from('v')]]);
  const b = await build([
    [dir('d/', { mode: 0o755, xattrs }), file('d/child', 'C')],
    [dir('d/', { mode: 0o700, uid: 1000, gid: 1000, mtime: { sec: 5, nsec: 6 } })],
  ]);
  const d = lookup(b.root, 'd');
  t.equal(d?.mode, 0o700);
  t.equal(d?.uid, 1000);
  t.equal(d?.gid, 1000);
  t.same(d?.mtime, { sec: 5, nsec: 6 });
  t.equal(d?.xattrs.size, 0, 'xattrs replaced, not merged');
  t.equal(textAt(b, 'd/child'), 'C', 'children kept');
  t.same(b.sink.released, []);
  accounted(t, b);
});

t.test('case 10: a parent through a symlink lands in the target directory', async (t) => {
  for (const target of ['/usr/lib', 'usr/lib', './usr//lib/']) {
    const b = await build([[dir('usr/'), dir('usr/lib/'), symlink('lib', target)], [file('lib/x.so', 'ELF')]]);
    t.same(listing(b.root), ['lib', 'usr/', 'usr/lib/', 'usr/lib/x.so'], `lib -> ${target}`);
    t.equal(textAt(b, 'usr/lib/x.so'), 'ELF');
    t.equal((lookup(b.root, 'lib') as { target?: string }).target, target, 'the symlink is untouched');
    accounted(t, b);
  }
});

t.test('case 11: a symlink pointing out of the root resolves inside the image', async (t) => {
  const b = await build([
    [symlink('evil', '../../../..'), symlink('etc-link', '/etc'), dir('a/'), symlink('a/up', '../../../../..')],
    [file('evil/pwn', '1'), file('etc-link/pwn', '2'), file('a/up/x/pwn', '3')],
  ]);
  t.equal(textAt(b, 'pwn'), '1', '../../../.. stops at the image root');
  t.equal(textAt(b, 'etc/pwn'), '2', '/etc is the image /etc, created on the way');
  implied(t, lookup(b.root, 'etc'), 'etc');
  t.equal(textAt(b, 'x/pwn'), '3');
  accounted(t, b);
});

t.test('case 12: a directory entry over a symlink replaces the symlink', async (t) => {
  const b = await build([[dir('usr/'), dir('usr/lib/'), symlink('lib', 'usr/lib')], [dir('lib/', { mode: 0o711 })]]);
  const lib = lookup(b.root, 'lib');
  t.equal(lib?.kind, 'dir');
  t.equal(lib?.mode, 0o711);
  t.same(listing(b.root), ['lib/', 'usr/', 'usr/lib/']);
});

t.test('case 13: spellings of one path are one path; .. above the root is rejected', async (t) => {
  const b = await build([[file('/etc/a', '1'), file('./etc/a', '2'), file('etc//a', '3'), file('x/../etc/./b', '4')]]);
  t.same(listing(b.root), ['etc/', 'etc/a', 'etc/b']);
  t.equal(textAt(b, 'etc/a'), '3');
  t.same(releasedTexts(b), ['1', '2']);
  accounted(t, b);
  await t.rejects(build([[file('../x', 'X')]]), { code: 'LAYER', message: /climbs out of the image root/ });
  await t.rejects(build([[file('a/../../x', 'X')]]), { code: 'LAYER' });
  await t.rejects(build([[file('/../etc/passwd', 'X')]]), { code: 'LAYER' });
});

t.test('case 14: absolute, dangling and non-UTF-8 symlink targets are kept verbatim', async (t) => {
  const odd = Buffer.from([0x66, 0xff, 0xfe, 0x2f, 0x78]).toString('latin1');
  const b = await build([[symlink('lib64', '/usr/lib64'), symlink('rel', '../nowhere/at/all'), symlink('odd', odd)]]);
  t.equal((lookup(b.root, 'lib64') as { target: string }).target, '/usr/lib64');
  t.equal((lookup(b.root, 'rel') as { target: string }).target, '../nowhere/at/all');
  t.equal((lookup(b.root, 'odd') as { target: string }).target, odd);
  t.same(listing(b.root), ['lib64', 'odd', 'rel'], 'nothing created for the targets');
});

t.test('case 15: a hard link to a lower file is the same inode and takes no metadata', async (t) => {
  const b = await build([[file('a', 'X', { mode: 0o640, uid: 3 })], [hardlink('b', 'a')]]);
  const a = lookup(b.root, 'a')!;
  t.equal(lookup(b.root, 'b'), a, 'same inode object');
  t.equal(namesOf(b.root, a), 2, 'nlink 2');
  t.equal(a.mode, 0o640, 'mode of the file, not of the link entry');
  t.equal(a.uid, 3);
  t.equal(b.stats[1].hardlinks, 1);
  accounted(t, b);
});

t.test('case 16: whiting out the original name keeps the hard link', async (t) => {
  const b = await build([[file('a', 'X')], [hardlink('b', 'a'), file('.wh.a', '')]]);
  t.same(listing(b.root), ['b']);
  t.equal(textAt(b, 'b'), 'X');
  t.equal(namesOf(b.root, lookup(b.root, 'b')!), 1);
  t.same(b.sink.released, [], 'the content is still referenced');
  accounted(t, b);
});

t.test('case 17: replacing one name of a hard-linked inode leaves the others', async (t) => {
  const b = await build([
    [file('t2', '123')],
    [file('t1', '123'), hardlink('t2', 't1'), hardlink('t3', 't1')],
    [file('t1', '456')],
  ]);
  t.equal(textAt(b, 't1'), '456');
  t.equal(textAt(b, 't2'), '123');
  t.equal(textAt(b, 't3'), '123');
  const t2 = lookup(b.root, 't2')!;
  t.equal(lookup(b.root, 't3'), t2);
  t.not(lookup(b.root, 't1'), t2);
  t.equal(namesOf(b.root, t2), 2, 'nlink 2');
  t.equal(b.sink.released.length, 1, "only layer 1's t2 was released");
  accounted(t, b);
});

t.test('case 18: a hard link to a missing target, a directory or out of the root fails', async (t) => {
  await t.rejects(build([[hardlink('b', 'missing')]]), { code: 'LAYER', message: /does not exist/ });
  await t.rejects(build([[file('etc/passwd', 'root')], [hardlink('b', '../../etc/passwd')]]), {
    code: 'LAYER',
    message: /climbs out/,
  });
  await t.rejects(build([[dir('d/')], [hardlink('b', 'd')]]), { code: 'LAYER', message: /directory/ });
  await t.rejects(build([[hardlink('b', '.')]]), { code: 'LAYER' });
  // A leading slash is root-relative, not the host's /etc.
  const b = await build([[file('etc/passwd', 'root')], [hardlink('b', '/etc/passwd')]]);
  t.equal(lookup(b.root, 'b'), lookup(b.root, 'etc/passwd'));
});

t.test('case 19: a hard link in a directory with no entry creates the parents', async (t) => {
  const b = await build([[file('a', 'X')], [hardlink('new/dir/b', 'a')]]);
  t.equal(lookup(b.root, 'new/dir/b'), lookup(b.root, 'a'));
  implied(t, lookup(b.root, 'new'), 'new');
  implied(t, lookup(b.root, 'new/dir'), 'new/dir');
  accounted(t, b);
});

t.test('case 20: binary xattrs are byte-exact; security.selinux is dropped by default', async (t) => {
  const capability = Buffer.from('0100000201000000ff000000000000000000000000', 'hex');
  const xattrs = new Map([
    ['security.capability', capability],
    ['security.selinux', Buffer.from('system_u:object_r:bin_t:s0\0')],
    ['user.mime', Buffer.from([0xc3, 0x28])],
  ]);
  const b = await build([[file('bin/ping', 'P', { mode: 0o755, xattrs })]]);
  const ping = lookup(b.root, 'bin/ping')!;
  t.ok(ping.xattrs.get('security.capability')?.equals(capability), 'capability byte for byte');
  t.ok(ping.xattrs.get('user.mime')?.equals(Buffer.from([0xc3, 0x28])));
  t.notOk(ping.xattrs.has('security.selinux'));
  const keepAll = await build([[file('bin/ping', 'P', { xattrs })]], { whiteouts: true, keepXattr: () => true });
  t.ok(lookup(keepAll.root, 'bin/ping')!.xattrs.has('security.selinux'), 'a caller can keep it');
});

t.test('case 21: setuid, setgid and sticky bits are kept', async (t) => {
  const b = await build([
    [file('bin/su', 'S', { mode: 0o4755 }), dir('var/mail/', { mode: 0o2775, gid: 8 }), dir('tmp/', { mode: 0o1777 })],
  ]);
  t.equal(lookup(b.root, 'bin/su')?.mode, 0o4755);
  t.equal(lookup(b.root, 'bin/su')?.uid, 0);
  t.equal(lookup(b.root, 'var/mail')?.mode, 0o2775);
  t.equal(lookup(b.root, 'tmp')?.mode, 0o1777);
});

t.test('case 22: devices and fifos are recorded; absurd device numbers fail', async (t) => {
  const b = await build([
    [
      member(entry('dev/null', 'char', { devMajor: 1, devMinor: 3, mode: 0o666 })),
      member(entry('dev/sda', 'block', { devMajor: 8, devMinor: 0, mode: 0o660, gid: 6 })),
      member(entry('run/initctl', 'fifo', { mode: 0o600 })),
      member(entry('dev/max', 'char', { devMajor: 0xfff, devMinor: 0xfffff })),
    ],
  ]);
  t.match(lookup(b.root, 'dev/null'), { kind: 'char', major: 1, minor: 3, mode: 0o666 });
  t.match(lookup(b.root, 'dev/sda'), { kind: 'block', major: 8, minor: 0, gid: 6 });
  t.match(lookup(b.root, 'run/initctl'), { kind: 'fifo', mode: 0o600 });
  t.match(lookup(b.root, 'dev/max'), { major: 4095, minor: 1048575 });
  t.equal(b.stats[0].devices, 4);
  for (const [major, minor] of [
    [4096, 0],
    [1, 0x100000],
    [-1, 0],
    [2 ** 40, 1],
  ]) {
    await t.rejects(build([[member(entry('dev/x', 'char', { devMajor: major, devMinor: minor }))]]), {
      code: 'LAYER',
      message: /device number/,
    });
  }
});

t.test('case 23: a duplicate path in one layer keeps the last', async (t) => {
  const b = await build([[file('f', '1'), file('f', '2')]]);
  t.equal(textAt(b, 'f'), '2');
  t.same(releasedTexts(b), ['1']);
  accounted(t, b);
});

t.test('rule 7: ns times, numeric ids win over names', async (t) => {
  const mtime = { sec: -5, nsec: 999_999_999 };
  const atime = { sec: 2 ** 33, nsec: 1 };
  const b = await build([[file('f', 'x', { mtime, atime, uid: 1234, gid: 5678, uname: 'root', gname: 'root' }), file('g', 'y', { mtime })]]);
  t.match(lookup(b.root, 'f'), { mtime, atime, ctime: mtime, uid: 1234, gid: 5678 });
  t.match(lookup(b.root, 'g'), { mtime, atime: mtime, ctime: mtime });
});

t.test('the root entry sets the root directory metadata', async (t) => {
  for (const path of ['./', '.', '/']) {
    const b = await build([[dir(path, { mode: 0o700, uid: 5 }), file('a', 'A')]]);
    t.equal(b.root.mode, 0o700, path);
    t.equal(b.root.uid, 5, path);
  }
  await t.rejects(build([[file('./', 'x')]]), { code: 'LAYER', message: /image root/ });
});

t.test('whiteouts: false keeps .wh. names as ordinary files', async (t) => {
  const b = await build([[file('a', 'A')], [file('.wh.a', 'W'), file('d/.wh..wh..opq', 'O')]], { whiteouts: false });
  t.same(listing(b.root), ['.wh.a', 'a', 'd/', 'd/.wh..wh..opq']);
  t.equal(textAt(b, '.wh.a'), 'W');
});

t.test('rule 11: an eStargz layer loses its TOC and landmark files, only when it is one', async (t) => {
  const landmark = Buffer.from([0x0f]);
  const estargz = () => [
    file('.prefetch.landmark', landmark),
    file('bin/sh', 'SH'),
    file('.no.prefetch.landmark', landmark),
    file('stargz.index.json', '{"version":1}'),
  ];
  const b = await build([estargz()]);
  t.same(listing(b.root), ['bin/', 'bin/sh']);
  t.equal(b.sink.released.length, 3);
  accounted(t, b);
  const notLast = await build([[file('stargz.index.json', '{}'), file('.prefetch.landmark', landmark)]]);
  t.same(listing(notLast.root), ['.prefetch.landmark', 'stargz.index.json'], 'TOC not last: ordinary files');
  const nested = await build([[file('.prefetch.landmark', landmark), file('d/stargz.index.json', '{}')]]);
  t.same(listing(nested.root), ['.prefetch.landmark', 'd/', 'd/stargz.index.json'], 'TOC not at the root');
  const lower = await build([[file('.prefetch.landmark', 'mine')], [file('stargz.index.json', '{}')]]);
  t.same(listing(lower.root), ['.prefetch.landmark'], "a lower layer's file of that name stays");
  const plain = await build([estargz()], { whiteouts: false });
  t.equal(listing(plain.root).length, 5, 'a plain rootfs tarball keeps everything');
});

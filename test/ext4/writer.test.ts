/**
 * The ext4 writer against e2fsprogs: every image is judged by e2fsck -fn / -fp and read
 * back field by field with debugfs (the test list of shared/notes/ext4.md).
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { prerequisites, tempDir, debugfs, which } from '../helpers/env.js';
import { assertClean, build, cat, chunks, dir, file, meta, stat, xattrNames, xattrValue } from '../helpers/image.js';
import { Ext4Writer } from '../../src/ext4/writer.js';
import { encodeTime } from '../../src/ext4/inode.js';
import { decodeSuperblock, encodeSuperblock, formatUuid } from '../../src/ext4/format.js';
import { readSuperblock } from '../../src/ext4/reader.js';
import { dumpe2fs } from '../store/fixtures.js';
import { makeRoot } from '../../src/tree/tree.js';
import { isInfraError } from '../../src/errors.js';

const E2FS = { tools: ['e2fsck', 'debugfs', 'dumpe2fs'] };

/** The 1024 bytes of a superblock `offset` bytes into the image. */
function superblockAt(image: string, offset: number): Buffer {
  const buf = Buffer.alloc(1024);
  const fd = openSync(image, 'r');
  try {
    readSync(fd, buf, 0, 1024, offset);
  } finally {
    closeSync(fd);
  }
  return buf;
}

t.test('an empty tree: root and lost+found, clean, with a journal', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const img = await build(scratch, 'empty', async () => {});
  assertClean(t, img.path, scratch);
  const ls = debugfs(img.path, 'ls -l /');
  t.match(ls, /lost\+found/);
  const lf = stat(img.path, '/lost+found');
  t.equal(lf.inode, 11, 'lost+found is inode 11, as mke2fs makes it');
  t.equal(lf.mode, 0o700);
  t.equal(lf.size, 16384, 'lost+found is pre-sized to 16 KiB');
  const root = stat(img.path, '/');
  t.equal(root.inode, 2);
  t.equal(root.links, 3, 'root: ., .. and lost+found/..');
  const header = execFileSync('dumpe2fs', ['-h', img.path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.match(header, /Filesystem features:\s+has_journal ext_attr dir_index filetype extent flex_bg sparse_super large_file huge_file dir_nlink extra_isize\n/);
  t.notMatch(header, /orphan_file|metadata_csum_seed|needs_recovery/);
  t.match(header, /Filesystem state:\s+clean/);
  t.match(header, /Block size:\s+4096/);
  t.match(header, /Inode size:\s+256/);
  t.match(header, /Total journal size:\s+4096k/, 'a 64 MiB image gets mke2fs\'s 4 MiB journal');
  t.match(header, /Journal inode:\s+8/);
  t.equal(statSync(img.path).size, 64 * 1024 * 1024, 'the file is exactly --size MiB');
  t.ok(statSync(img.path).blocks * 512 < 8 * 1024 * 1024, 'and sparse');
});

t.test('superblock: one declaration decodes what mke2fs wrote and re-encodes ours byte for byte', async (t) => {
  if (!prerequisites(t, { tools: ['mke2fs', 'dumpe2fs'] })) return;
  const scratch = tempDir(t);
  const theirs = join(scratch, 'mke2fs.img');
  const uuid = '0b0e2c0a-9c34-4bd5-9c70-3d1f8e5b2a11';
  execFileSync(which('mke2fs')!, ['-q', '-F', '-t', 'ext4', '-L', 'label16bytes-max', '-U', uuid, theirs, '80M']);
  const sb = decodeSuperblock(superblockAt(theirs, 1024));
  // Counts, sizes and features are compared in test/store/local.test.ts; these are the rest.
  const d = dumpe2fs(theirs);
  t.equal(formatUuid(sb.s_uuid), uuid);
  const fields: Array<[decoded: string | number, dumpe2fsName: string]> = [
    [sb.s_volume_name.toString('latin1'), 'Filesystem volume name'], // 16 bytes, no NUL
    [sb.s_r_blocks_count_lo, 'Reserved block count'],
    [sb.s_inodes_per_group, 'Inodes per group'],
    [sb.s_first_ino, 'First inode'],
    [sb.s_journal_inum, 'Journal inode'],
    [formatUuid(sb.s_hash_seed), 'Directory Hash Seed'],
    [sb.s_want_extra_isize, 'Desired extra isize'],
    [2 ** sb.s_log_groups_per_flex, 'Flex block group size'],
  ];
  for (const [decoded, name] of fields) t.equal(String(decoded), d.get(name), name);

  const ours = await build(scratch, 'ours', async () => {}, { size: 160, label: 'ours' });
  const primary = superblockAt(ours.path, 1024);
  t.ok(encodeSuperblock(decodeSuperblock(primary)).equals(primary), 'decode then encode gives the same 1024 bytes');
  const backup = decodeSuperblock(superblockAt(ours.path, 32768 * 4096));
  t.equal(backup.s_block_group_nr, 1, 'the group 1 backup says which group it is in');
  t.same({ ...backup, s_block_group_nr: 0 }, decodeSuperblock(primary), 'and is otherwise the primary');
  const facts = await readSuperblock(ours.path);
  t.equal(facts.volumeName, dumpe2fs(ours.path).get('Filesystem volume name'));
  t.equal(facts.uuid, ours.uuid);
});

t.test('file sizes 0, 1, 4095, 4096, 4097 and holes', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const sizes = [0, 1, 4095, 4096, 4097, 3 * 4096 + 17];
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff || 1));
  const holey = Buffer.alloc(10 * 4096, 0);
  holey.fill(9, 0, 100);
  holey.fill(8, 5 * 4096, 5 * 4096 + 1);
  const img = await build(scratch, 'sizes', async (w, root) => {
    for (const n of sizes) root.children.set(`s${n}`, await file(w, bytes(n)));
    root.children.set('zeros', await file(w, Buffer.alloc(5 * 4096 + 3)));
    root.children.set('holey', await file(w, holey));
  });
  assertClean(t, img.path, scratch);
  for (const n of sizes) {
    const s = stat(img.path, `/s${n}`);
    t.equal(s.size, n, `size ${n}`);
    t.equal(s.blockcount, Math.ceil(n / 4096) * 8, `blocks of ${n}`);
    t.ok(cat(img.path, `/s${n}`).equals(bytes(n)), `bytes of ${n}`);
  }
  const z = stat(img.path, '/zeros');
  t.equal(z.size, 5 * 4096 + 3);
  t.equal(z.blockcount, 0, 'an all-zero file is all holes');
  t.ok(cat(img.path, '/zeros').equals(Buffer.alloc(5 * 4096 + 3)));
  const h = stat(img.path, '/holey');
  t.equal(h.blockcount, 16, 'only the two non-zero blocks are allocated');
  t.ok(cat(img.path, '/holey').equals(holey));
});

t.test('hard links across directories, and a hard link to a symlink', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const img = await build(scratch, 'links', async (w, root) => {
    const f = await file(w, 'shared\n');
    const a = dir();
    const b = dir();
    root.children.set('a', a);
    root.children.set('b', b);
    root.children.set('one', f);
    a.children.set('two', f);
    b.children.set('three', f);
    const sl = { kind: 'symlink' as const, ...meta(0o777), target: 'one' };
    root.children.set('sl1', sl);
    b.children.set('sl2', sl);
  });
  assertClean(t, img.path, scratch);
  const one = stat(img.path, '/one');
  t.equal(one.links, 3);
  t.equal(stat(img.path, '/a/two').inode, one.inode);
  t.equal(stat(img.path, '/b/three').inode, one.inode);
  const sl = stat(img.path, '/sl1');
  t.equal(sl.links, 2);
  t.equal(stat(img.path, '/b/sl2').inode, sl.inode);
  t.equal(stat(img.path, '/').links, 5, 'root links: 2 + a, b, lost+found');
});

t.test('symlinks of 1, 59, 60, 61 and 4095 bytes', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const lengths = [1, 59, 60, 61, 4095];
  const target = (n: number) => Array.from({ length: n }, (_, i) => 'abcdefgh/'[i % 9]).join('');
  const img = await build(scratch, 'symlinks', async (_w, root) => {
    for (const n of lengths) root.children.set(`l${n}`, { kind: 'symlink', ...meta(0o777), target: target(n) });
  });
  assertClean(t, img.path, scratch);
  for (const n of lengths) {
    const s = stat(img.path, `/l${n}`);
    t.equal(s.size, n, `length ${n}`);
    if (n < 60) {
      t.equal(s.blockcount, 0, `${n}: fast symlink, no block`);
      t.equal(s.flags & 0x80000, 0, `${n}: fast symlink has no extents flag`);
      t.equal(s.fastLink, target(n));
    } else {
      t.equal(s.blockcount, 8, `${n}: slow symlink, one block`);
      t.equal(s.flags & 0x80000, 0x80000);
      t.equal(cat(img.path, `/l${n}`).toString(), target(n));
    }
  }
  await t.rejects(
    build(scratch, 'toolong', async (_w, root) => {
      root.children.set('l', { kind: 'symlink', ...meta(0o777), target: 'x'.repeat(4096) });
    }),
    { code: 'LAYER' },
  );
});

t.test('devices (major/minor above 255), fifos, sockets', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const devs: Array<[string, 'char' | 'block', number, number]> = [
    ['null', 'char', 1, 3],
    ['sda', 'block', 8, 0],
    ['bigmajor', 'char', 300, 5],
    ['bigminor', 'block', 7, 1000],
    ['both', 'char', 4095, 1048575],
  ];
  const img = await build(scratch, 'devices', async (_w, root) => {
    for (const [name, kind, major, minor] of devs) root.children.set(name, { kind, ...meta(0o660), major, minor });
    root.children.set('fifo', { kind: 'fifo', ...meta(0o644) });
    root.children.set('sock', { kind: 'socket', ...meta(0o755) });
  });
  assertClean(t, img.path, scratch);
  for (const [name, kind, major, minor] of devs) {
    const s = stat(img.path, `/${name}`);
    t.equal(s.type, kind === 'char' ? 'character' : 'block', `${name} type`);
    t.same(s.device, [major, minor], `${name} ${major}:${minor}`);
  }
  t.equal(stat(img.path, '/fifo').type, 'FIFO');
  t.equal(stat(img.path, '/sock').type, 'socket');
});

t.test('owners, special mode bits and timestamps, exact', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const ids = [0, 65535, 65536, 100000, 4294967294];
  const modes = [0o4755, 0o2755, 0o1777, 0o0000, 0o7777];
  const times = [-1000, 0, 2 ** 31 - 1, 2 ** 31, 4102444800, -(2 ** 31)];
  const img = await build(scratch, 'meta', async (w, root) => {
    for (const id of ids) root.children.set(`id${id}`, await file(w, 'x', { uid: id, gid: id + 1 > 4294967295 ? id : id + 1 }));
    for (const m of modes) root.children.set(`m${m.toString(8)}`, await file(w, 'x', { mode: m }));
    root.children.set('dsticky', dir({ mode: 0o1777 }));
    times.forEach((sec, i) =>
      root.children.set(`t${i}`, {
        kind: 'fifo',
        ...meta(0o644, {
          mtime: { sec, nsec: 999999999 - i },
          atime: { sec: sec + 1, nsec: 1 },
          ctime: { sec, nsec: 123456789 },
        }),
      }),
    );
  });
  assertClean(t, img.path, scratch);
  for (const id of ids) {
    const s = stat(img.path, `/id${id}`);
    t.equal(s.uid, id, `uid ${id}`);
    t.equal(s.gid, id + 1 > 4294967295 ? id : id + 1, `gid for ${id}`);
  }
  for (const m of modes) t.equal(stat(img.path, `/m${m.toString(8)}`).mode, m, `mode ${m.toString(8)}`);
  t.equal(stat(img.path, '/dsticky').mode, 0o1777);
  times.forEach((sec, i) => {
    const s = stat(img.path, `/t${i}`);
    t.same(s.times.mtime, encodeTime({ sec, nsec: 999999999 - i }), `raw mtime for ${sec}`);
    t.same(s.times.atime, encodeTime({ sec: sec + 1, nsec: 1 }), `raw atime for ${sec + 1}`);
    t.same(s.times.ctime, encodeTime({ sec, nsec: 123456789 }), `raw ctime for ${sec}`);
  });
});

t.test('timestamp encoding follows the kernel (epoch bits, nanoseconds)', async (t) => {
  // ((sec - (s32)sec) >> 32) & 3 | nsec << 2, per inodes.rst
  t.same(encodeTime({ sec: -1000, nsec: 5 }), [2 ** 32 - 1000, 5 << 2]);
  t.same(encodeTime({ sec: 0, nsec: 0 }), [0, 0]);
  t.same(encodeTime({ sec: 2 ** 31 - 1, nsec: 0 }), [2 ** 31 - 1, 0]);
  t.same(encodeTime({ sec: 2 ** 31, nsec: 0 }), [2 ** 31, 1]);
  t.same(encodeTime({ sec: 4102444800, nsec: 999999999 }), [4102444800 - 2 ** 32 + 2 ** 32, (1 | (999999999 << 2)) >>> 0]);
  t.same(encodeTime({ sec: 2 ** 32 + 5, nsec: 0 }), [5, 1]);
});

t.test('xattrs: in the inode, spilled to a block, sorted, byte-exact; ACLs converted', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const capV2 = Buffer.from('0000000200200000ff0000000000000000000000', 'hex');
  const capV3 = Buffer.from('010000030020000000000000000000000000000000000000', 'hex');
  // posix_acl_xattr: version 2; user::rw- user:1000:r-- group::r-- mask::r-- other::---
  const acl = Buffer.alloc(4 + 5 * 8);
  acl.writeUInt32LE(2, 0);
  [[1, 6, 0xffffffff], [2, 4, 1000], [4, 4, 0xffffffff], [0x10, 4, 0xffffffff], [0x20, 0, 0xffffffff]].forEach(([tag, perm, id], i) => {
    acl.writeUInt16LE(tag!, 4 + i * 8);
    acl.writeUInt16LE(perm!, 6 + i * 8);
    acl.writeUInt32LE(id!, 8 + i * 8);
  });
  const many = new Map<string, Buffer>();
  for (let i = 0; i < 30; i++) many.set(`user.k${String.fromCharCode(122 - i)}${'n'.repeat(i % 4)}`, Buffer.alloc(40 + i, i + 1));
  many.set('trusted.t', Buffer.from([0, 1, 2, 0xff]));
  many.set('security.capability', capV3);
  many.set('user.', Buffer.from('empty-suffix'));
  const img = await build(scratch, 'xattrs', async (w, root) => {
    const small = await file(w, 'small');
    small.xattrs = new Map([['security.capability', capV2], ['user.a', Buffer.from('1')]]);
    root.children.set('small', small);
    const big = await file(w, 'big');
    big.xattrs = new Map(many);
    root.children.set('big', big);
    const withAcl = dir();
    withAcl.xattrs = new Map([['system.posix_acl_access', acl], ['system.posix_acl_default', acl]]);
    root.children.set('acl', withAcl);
    const empty = await file(w, '');
    empty.xattrs = new Map([['user.empty', Buffer.alloc(0)]]);
    root.children.set('emptyval', empty);
  });
  assertClean(t, img.path, scratch);
  t.equal(stat(img.path, '/small').fileAcl, 0, 'small xattrs stay in the inode');
  t.ok(xattrValue(img.path, '/small', 'security.capability', scratch).equals(capV2), 'capability v2 byte-exact (0xff kept)');
  t.ok(xattrValue(img.path, '/small', 'user.a', scratch).equals(Buffer.from('1')));
  t.not(stat(img.path, '/big').fileAcl, 0, 'many xattrs spill into a block');
  const names = xattrNames(img.path, '/big');
  t.equal(names.length, many.size);
  for (const [k, v] of many) t.ok(xattrValue(img.path, '/big', k, scratch).equals(v), `${k} byte-exact`);
  // ext4_acl: version 1; user::rw- (short), user:1000:r-- (full), group::r--, mask::r--, other::---
  const diskAcl = Buffer.from('01000000' + '01000600' + '02000400e8030000' + '04000400' + '10000400' + '20000000', 'hex');
  for (const name of ['system.posix_acl_access', 'system.posix_acl_default']) {
    t.same(xattrValue(img.path, '/acl', name, scratch, true), diskAcl, `${name} stored in ext4's ACL form`);
    const back = xattrValue(img.path, '/acl', name, scratch);
    t.equal(back.readUInt32LE(0), 2, 'and read back as a version 2 posix_acl_xattr');
    t.equal(back.subarray(12, 20).toString('hex'), '02000400e8030000', 'with user:1000:r-- intact');
  }
  t.equal(xattrValue(img.path, '/emptyval', 'user.empty', scratch).length, 0);
  await t.rejects(
    build(scratch, 'toobig', async (w, root) => {
      const f = await file(w, 'x');
      f.xattrs = new Map([['user.huge', Buffer.alloc(5000, 1)]]);
      root.children.set('f', f);
    }),
    { code: 'XATTR', message: /at most 4096/ },
  );
  t.notOk(existsSync(join(scratch, 'toobig.img')), 'nothing left at the output');
  t.equal(readdirSync(scratch).filter((n) => n.includes('toobig')).length, 0, 'no temporary file left');
});

t.test('names: 255 bytes, non-UTF-8 bytes; invalid names refused', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const long = 'n'.repeat(255);
  const binary = Buffer.from([0x66, 0xff, 0xfe, 0x80, 0x2e]).toString('latin1');
  const img = await build(scratch, 'names', async (w, root) => {
    root.children.set(long, await file(w, 'long'));
    root.children.set(binary, await file(w, 'binary'));
  });
  assertClean(t, img.path, scratch);
  t.equal(cat(img.path, `/${long}`).toString(), 'long');
  const ls = debugfs(img.path, 'ls -p /');
  t.ok(ls.includes(`/${binary}/`), 'the raw name bytes are in the directory');
  await t.rejects(
    build(scratch, 'badname', async (w, root) => {
      root.children.set('n'.repeat(256), await file(w, 'x'));
    }),
    { code: 'LAYER' },
  );
});

t.test('large and fragmented files: many extents need index blocks', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  // Every other block is zero: 2000 extents of one block each (a depth-1 tree, 6 leaves).
  const blocks = 4000;
  const data = Buffer.alloc(blocks * 4096);
  for (let b = 0; b < blocks; b += 2) data.fill((b % 251) + 1, b * 4096, b * 4096 + 4096);
  const img = await build(scratch, 'fragmented', async (w, root) => {
    const parts: Buffer[] = [];
    for (let off = 0; off < data.length; off += 65536 + 1000) parts.push(data.subarray(off, off + 65536 + 1000));
    root.children.set('frag', { kind: 'file', ...meta(0o644), content: await w.writeFile(chunks(...parts), data.length) });
  });
  assertClean(t, img.path, scratch);
  const s = stat(img.path, '/frag');
  t.equal(s.size, data.length);
  t.equal(s.blockcount, (blocks / 2 + 6 + 1) * 8, 'data blocks + 6 leaves + 1 index block (depth 2)');
  t.ok(cat(img.path, '/frag').equals(data), 'content survives the extent tree');
});

t.test('a file over 4 GiB (sparse) and one over 512 MiB of real data', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const size = 5 * 1024 ** 3 + 12345;
  const marker = Buffer.alloc(4096, 0xab);
  const zero = Buffer.alloc(1024 * 1024);
  async function* hugeSparse() {
    yield marker;
    let left = size - marker.length * 2;
    while (left > 0) {
      const n = Math.min(left, zero.length);
      yield zero.subarray(0, n);
      left -= n;
    }
    yield marker;
  }
  const realSize = 520 * 1024 * 1024;
  const hash = createHash('sha256');
  async function* real() {
    for (let i = 0; i < realSize / (1024 * 1024); i++) {
      const buf = Buffer.alloc(1024 * 1024, (i % 255) + 1); // a fresh chunk each time, as streams hand them over
      buf.writeUInt32LE(i, 0);
      hash.update(buf);
      yield buf;
    }
  }
  const img = await build(
    scratch,
    'large',
    async (w, root) => {
      root.children.set('huge', { kind: 'file', ...meta(0o644), content: await w.writeFile(hugeSparse(), size) });
      root.children.set('real', { kind: 'file', ...meta(0o644), content: await w.writeFile(real(), realSize) });
    },
    { size: 700 },
  );
  assertClean(t, img.path, scratch);
  const s = stat(img.path, '/huge');
  t.equal(s.size, size, 'i_size_high carries the size past 4 GiB');
  t.equal(s.blockcount, 3 * 8, 'two data blocks (the tail straddles two blocks) + nothing else');
  const tail = debugfs(img.path, `bd -f /huge ${Math.floor((size - 4096) / 4096)}`);
  t.match(tail, /abab abab abab/, 'the last bytes are there');
  const out = join(scratch, 'real.out');
  debugfs(img.path, `dump /real ${out}`);
  t.equal(createHash('sha256').update(readFileSync(out)).digest('hex'), hash.digest('hex'), '520 MiB byte-exact');
  t.equal(stat(img.path, '/real').blockcount, (realSize / 4096 + 1) * 8, '4 extents of 32768 blocks + more: an index leaf');
});

t.test('reproducible: same input, same bytes; --uuid and SOURCE_DATE_EPOCH', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const fill = async (w: Ext4Writer, root: ReturnType<typeof makeRoot>) => {
    root.children.set('f', await file(w, 'same'));
    root.children.set('d', dir());
  };
  const a = await build(scratch, 'a', fill, { contentKey: 'k' });
  const b = await build(scratch, 'b', fill, { contentKey: 'k' });
  const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
  t.equal(sha(a.path), sha(b.path), 'byte-identical');
  const c = await build(scratch, 'c', fill, { contentKey: 'other' });
  t.not(c.uuid, a.uuid, 'the UUID follows the content');
  const d = await build(scratch, 'd', fill, { contentKey: 'k', uuid: '0b0e2c0a-9c34-4bd5-9c70-3d1f8e5b2a11' });
  t.equal(d.uuid, '0b0e2c0a-9c34-4bd5-9c70-3d1f8e5b2a11');
  const header = execFileSync('dumpe2fs', ['-h', d.path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.match(header, /Filesystem UUID:\s+0b0e2c0a-9c34-4bd5-9c70-3d1f8e5b2a11/);
  t.match(header, /Filesystem created:\s+Tue Nov 14 22:13:20 2023/, 'superblock times are the invented time, not the clock');
});

t.test('too small: fails before anything is left, naming a size that then works', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const payload = Buffer.alloc(20 * 1024 * 1024, 0x5a);
  const fill = async (w: Ext4Writer, root: ReturnType<typeof makeRoot>) => {
    root.children.set('payload', await file(w, payload));
    for (let i = 0; i < 3000; i++) root.children.set(`f${i}`, await file(w, `file ${i}`));
  };
  let minimum = 0;
  await t.rejects(
    build(scratch, 'small', fill, { size: 16 }).catch((err) => {
      if (isInfraError(err, 'SIZE')) minimum = Number(/at least (\d+) MB/.exec(err.message)?.[1]);
      throw err;
    }),
    { code: 'SIZE', option: 'size', hint: /^rerun with \{size\} \d+ or more/, message: /needs at least \d+ MB: rerun with the size option \d+/ },
  );
  t.equal(readdirSync(scratch).length, 0, 'nothing at the output, no temporary file');
  // 20 MiB + 3000 one-block files (12 MiB) + a 4 MiB journal + inode tables
  t.ok(minimum >= 36 && minimum <= 44, `minimum ${minimum} MB is plausible for 20 MiB + 3000 small files`);
  const ok = await build(scratch, 'exact', fill, { size: minimum });
  assertClean(t, ok.path, scratch);
  await t.rejects(build(scratch, 'below', fill, { size: minimum - 1 }), { code: 'SIZE' }, 'one MB less does not fit');
});

t.test('--size auto: what fits plus documented headroom', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const img = await build(
    scratch,
    'auto',
    async (w, root) => {
      root.children.set('payload', await file(w, Buffer.alloc(30 * 1024 * 1024, 1)));
    },
    { size: 'auto' },
  );
  assertClean(t, img.path, scratch);
  const mib = img.sizeBytes / 1024 / 1024;
  t.ok(mib >= 30 * 1.2 + 32 && mib < 30 * 1.2 + 32 + 16, `auto size ${mib} MiB = minimum + 20% + 32 MiB`);
  t.equal(statSync(img.path).size, img.sizeBytes);
});

t.test('grown with truncate + resize2fs, the image stays clean', async (t) => {
  if (!prerequisites(t, { tools: [...E2FS.tools, 'resize2fs'] })) return;
  const scratch = tempDir(t);
  const img = await build(scratch, 'grow', async (w, root) => {
    root.children.set('f', await file(w, Buffer.alloc(3 * 1024 * 1024, 3)));
  });
  for (const mib of [200, 20000]) {
    execFileSync('truncate', ['-s', `${mib}M`, img.path]);
    const r = spawnSync(which('resize2fs')!, ['-f', img.path], { encoding: 'utf8', timeout: 300_000 });
    t.equal(r.status, 0, `resize2fs to ${mib} MiB`, { output: r.stdout + r.stderr });
    assertClean(t, img.path, scratch);
  }
  t.ok(cat(img.path, '/f').equals(Buffer.alloc(3 * 1024 * 1024, 3)));
});

t.test('replaced files: released blocks are reused or zeroed, never leaked', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const secret = Buffer.alloc(64 * 1024, 0x53);
  const img = await build(scratch, 'released', async (w, root) => {
    w.release(await w.writeBuffer(secret));
    const kept = await file(w, Buffer.alloc(8192, 0x4b));
    root.children.set('kept', kept);
  });
  assertClean(t, img.path, scratch);
  t.notOk(readFileSync(img.path).includes(Buffer.alloc(4096, 0x53)), 'the released data is not in the image');
  t.ok(cat(img.path, '/kept').equals(Buffer.alloc(8192, 0x4b)));
});

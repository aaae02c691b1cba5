/**
 * Archives made by real tools (GNU tar in every format it writes, bsdtar) from a real
 * directory with xattrs, capabilities, devices, long and non-UTF-8 names and sparse files,
 * read back and compared field by field with what the file system holds.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { createReadStream, linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTar } from '../../src/tar/reader.js';
import type { TarEntry } from '../../src/tar/entry.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { readAll, type ReadMember } from '../helpers/tar-build.js';

const LONG_DIR = `${'long-directory-name-'.repeat(6)}x`; // 121 bytes
const NAME_255 = 'n'.repeat(255);
const NON_UTF8 = Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]); // "bad\xff\xfe.bin"

/** One capability: cap_net_raw in the permitted and effective sets (VFS_CAP_REVISION_2). */
const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');

function run(cmd: string, args: string[], cwd?: string): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
}

/** A tree with every kind of entry; `extended` adds what only PAX/GNU can store. */
function makeTree(root: string, extended: boolean): void {
  mkdirSync(join(root, 'd'), { mode: 0o750 });
  writeFileSync(join(root, 'd/f'), 'file data\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'suid'), '#!/bin/sh\n', { mode: 0o755 });
  execFileSync('chmod', ['4755', join(root, 'suid')]);
  execFileSync('chmod', ['1777', join(root, 'd')]);
  symlinkSync('d/f', join(root, 'link'));
  symlinkSync('/nowhere/dangling', join(root, 'dangling'));
  linkSync(join(root, 'd/f'), join(root, 'hard'));
  execFileSync('chown', ['1234:5678', join(root, 'd/f')]);
  writeFileSync(join(root, 'big'), Buffer.alloc(300_000, 0x5a));
  if (!extended) return;
  run('mkfifo', [join(root, 'fifo')]);
  run('mknod', [join(root, 'null'), 'c', '1', '3']);
  run('mknod', [join(root, 'sda'), 'b', '8', '0']);
  mkdirSync(join(root, LONG_DIR, LONG_DIR), { recursive: true });
  writeFileSync(join(root, LONG_DIR, LONG_DIR, 'deep'), 'deep');
  writeFileSync(join(root, NAME_255), '255');
  writeFileSync(Buffer.from(`${root}/${Buffer.from(NON_UTF8).toString('latin1')}`, 'latin1'), 'not utf-8');
  symlinkSync(`${LONG_DIR}/${LONG_DIR}/deep`, join(root, 'longlink'));
}

function setXattrs(root: string): void {
  writeFileSync(join(root, 'xattrs'), 'x');
  run('setfattr', ['-n', 'user.k', '-v', '0xff00fe01', join(root, 'xattrs')]);
  run('setfattr', ['-n', 'user.eq=pct%', '-v', 'hello', join(root, 'xattrs')]);
  writeFileSync(join(root, 'ping'), 'ELF');
  run('setcap', ['cap_net_raw+ep', join(root, 'ping')]);
  writeFileSync(join(root, 'allcaps'), 'ELF');
  run('setcap', ['=ep', join(root, 'allcaps')]);
}

/** The xattr bytes as getfattr reports them. */
function getXattr(path: string, name: string): Buffer {
  const out = execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', name, path], { timeout: 10_000 });
  return out;
}

async function readArchive(file: string): Promise<Map<string, ReadMember<TarEntry>>> {
  const members = await readAll(readTar(createReadStream(file, { highWaterMark: 8192 })));
  return new Map(members.map((m) => [m.entry.path.replace(/^\.\//, ''), m]));
}

const TYPE_OF_STAT = (mode: number): TarEntry['type'] => {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    default:
      return 'file';
  }
};

/** Checks every member against lstat of the file it came from. */
function compareWithDisk(
  t: Test,
  root: string,
  members: Map<string, ReadMember<TarEntry>>,
  options: { ids: boolean; nsTimes: boolean },
): void {
  for (const [path, { entry, data }] of members) {
    if (path === '' || path === './') continue;
    const diskPath = Buffer.from(join(root, path.replace(/\/$/, '')), 'latin1');
    const stat = lstatSync(diskPath, { bigint: true });
    const where = JSON.stringify(path.slice(0, 40));
    const type = TYPE_OF_STAT(Number(stat.mode));
    if (entry.type === 'hardlink') {
      t.equal(type, 'file', `${where} is a hard link to a file`);
      t.equal(entry.linkname.replace(/^\.\//, ''), path === 'hard' ? 'd/f' : 'hard', `${where} link target`);
      continue;
    }
    t.equal(entry.type, type, `${where} type`);
    t.equal(entry.mode, Number(stat.mode) & 0o7777, `${where} mode`);
    if (options.ids) {
      t.equal(entry.uid, Number(stat.uid), `${where} uid`);
      t.equal(entry.gid, Number(stat.gid), `${where} gid`);
    }
    const sec = Number(stat.mtimeNs / 1_000_000_000n);
    t.equal(entry.mtime.sec, sec, `${where} mtime seconds`);
    if (options.nsTimes && type !== 'symlink') {
      t.equal(entry.mtime.nsec, Number(stat.mtimeNs % 1_000_000_000n), `${where} mtime ns`);
    }
    if (type === 'file') {
      t.equal(entry.size, Number(stat.size), `${where} size`);
      t.ok(data.equals(readFileSync(diskPath)), `${where} content`);
    } else {
      t.equal(entry.size, 0, `${where} size 0`);
      t.equal(data.length, 0, `${where} has no body`);
    }
    if (type === 'symlink') {
      t.equal(entry.linkname, readlinkSync(diskPath, { encoding: 'buffer' }).toString('latin1'), `${where} target`);
    }
    if (type === 'char' || type === 'block') {
      const rdev = Number(stat.rdev);
      t.same([entry.devMajor, entry.devMinor], [(rdev >> 8) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & 0xfff00)], `${where} device`);
    }
  }
}

t.test('GNU tar and bsdtar archives read back exactly', async (t) => {
  if (!prerequisites(t, { tools: ['tar', 'setfattr', 'getfattr', 'setcap', 'mknod', 'mkfifo'] })) return;
  const dir = tempDir(t);
  const full = join(dir, 'full');
  const plain = join(dir, 'plain');
  mkdirSync(full);
  mkdirSync(plain);
  makeTree(full, true);
  setXattrs(full);
  makeTree(plain, false);
  const expectedNames = (root: string) =>
    execFileSync('find', ['.', '-mindepth', '1'], { cwd: root }).toString('latin1').split('\n').filter(Boolean).length;

  const cases: Array<{ name: string; root: string; tool: string; args: string[]; ids: boolean; nsTimes: boolean }> = [
    { name: 'pax', root: full, tool: 'tar', args: ['--format=pax', '--xattrs', '--xattrs-include=*'], ids: true, nsTimes: true },
    { name: 'gnu', root: full, tool: 'tar', args: ['--format=gnu'], ids: true, nsTimes: false },
    { name: 'gnu --incremental', root: full, tool: 'tar', args: ['--format=gnu', '--incremental'], ids: true, nsTimes: false },
    { name: 'oldgnu', root: full, tool: 'tar', args: ['--format=oldgnu'], ids: true, nsTimes: false },
    { name: 'ustar', root: plain, tool: 'tar', args: ['--format=ustar'], ids: true, nsTimes: false },
    { name: 'v7', root: plain, tool: 'tar', args: ['--format=v7'], ids: true, nsTimes: false },
  ];
  for (const c of cases) {
    t.test(`GNU tar --format=${c.name}`, async (t) => {
      const file = join(dir, `${c.name.replace(/\W/g, '_')}.tar`);
      run(c.tool, [...c.args, '-cf', file, '-C', c.root, '.']);
      const members = await readArchive(file);
      t.equal(members.size, expectedNames(c.root) + 1, 'one member per file, plus ./');
      compareWithDisk(t, c.root, members, c);
      if (c.root === full) {
        t.ok(members.has(`${LONG_DIR}/${LONG_DIR}/deep`), 'long path');
        t.ok(members.has(NAME_255), '255-byte name');
        t.ok(members.has(NON_UTF8.toString('latin1')), 'non-UTF-8 name kept as bytes');
        t.equal(members.get('longlink')?.entry.linkname, `${LONG_DIR}/${LONG_DIR}/deep`, 'long link name');
      }
      if (c.name === 'v7') t.equal(members.get('d/')?.entry.type, 'dir', 'v7 directory by trailing slash');
      if (c.name === 'gnu --incremental') {
        // Incremental archives store directories as GNU dumpdirs and fill in atime/ctime.
        const stat = lstatSync(join(full, 'd/f'));
        t.same(members.get('d/f')?.entry.atime, { sec: Math.floor(stat.atimeMs / 1000), nsec: 0 }, 'GNU atime field');
        t.same(members.get('d/f')?.entry.ctime, { sec: Math.floor(stat.ctimeMs / 1000), nsec: 0 }, 'GNU ctime field');
        t.equal(members.get('d/')?.entry.type, 'dir', 'dumpdir read as a directory');
      }
    });
  }

  t.test('PAX xattrs are raw bytes, byte-exact', async (t) => {
    const members = await readArchive(join(dir, 'pax.tar'));
    const xattrs = members.get('xattrs')?.entry.xattrs;
    t.same(xattrs?.get('user.k'), Buffer.from([0xff, 0x00, 0xfe, 0x01]), 'user.k with 0xff and NUL');
    t.same(xattrs?.get('user.eq=pct%'), Buffer.from('hello'), 'name with = and % decoded');
    t.same(members.get('ping')?.entry.xattrs.get('security.capability'), CAP_NET_RAW, 'cap_net_raw v2 capability');
    const allCaps = members.get('allcaps')?.entry.xattrs.get('security.capability');
    t.same(allCaps, getXattr(join(full, 'allcaps'), 'security.capability'), 'all capabilities, as on disk');
    t.ok(allCaps?.includes(0xff), 'that value holds 0xff bytes');
  });

  t.test('bsdtar pax archive (LIBARCHIVE.xattr and SCHILY.xattr)', async (t) => {
    if (!prerequisites(t, { tools: ['bsdtar'] })) return;
    const file = join(dir, 'bsd.tar');
    run('bsdtar', ['--format=pax', '--xattrs', '-cf', file, '-C', full, '.']);
    const members = await readArchive(file);
    t.equal(members.size, expectedNames(full) + 1);
    compareWithDisk(t, full, members, { ids: true, nsTimes: true });
    t.same(members.get('xattrs')?.entry.xattrs.get('user.k'), Buffer.from([0xff, 0x00, 0xfe, 0x01]));
    t.same(members.get('xattrs')?.entry.xattrs.get('user.eq=pct%'), Buffer.from('hello'));
    t.same(members.get('allcaps')?.entry.xattrs.get('security.capability'), getXattr(join(full, 'allcaps'), 'security.capability'));

    // Only the LIBARCHIVE form (URL-encoded names, base64 values).
    const libarchiveOnly = join(dir, 'bsd-libarchive.tar');
    run('bsdtar', ['--format=pax', '--xattrs', '--options', 'xattrheader=LIBARCHIVE', '-cf', libarchiveOnly, '-C', full, 'xattrs', 'allcaps']);
    t.match(readFileSync(libarchiveOnly).toString('latin1'), /LIBARCHIVE\.xattr\.user\.eq%3Dpct%25=/, 'names URL-encoded');
    t.notMatch(readFileSync(libarchiveOnly).toString('latin1'), /SCHILY\.xattr/, 'no SCHILY records');
    const onlyLib = await readArchive(libarchiveOnly);
    t.same(onlyLib.get('xattrs')?.entry.xattrs.get('user.k'), Buffer.from([0xff, 0x00, 0xfe, 0x01]), 'LIBARCHIVE user.k');
    t.same(onlyLib.get('xattrs')?.entry.xattrs.get('user.eq=pct%'), Buffer.from('hello'), 'LIBARCHIVE name decoded');
    t.same(onlyLib.get('allcaps')?.entry.xattrs.get('security.capability'), getXattr(join(full, 'allcaps'), 'security.capability'));
  });
});

/** Writes `regions` count data islands separated by holes; returns the file's bytes. */
function makeSparseFile(path: string, islands: number, gap: number): Buffer {
  run('truncate', ['-s', String(islands * gap + gap), path]);
  for (let i = 0; i < islands; i++) {
    run('dd', [`of=${path}`, 'bs=4096', `seek=${(i * gap) / 4096 + 1}`, 'count=1', 'conv=notrunc', 'if=/dev/urandom', 'status=none']);
  }
  return readFileSync(path);
}

/** The file rebuilt from the stored bytes and the sparse map. */
function expand(entry: TarEntry, data: Buffer): Buffer {
  const file = Buffer.alloc(entry.size);
  let at = 0;
  for (const region of entry.sparse ?? []) {
    data.copy(file, region.offset, at, at + region.length);
    at += region.length;
  }
  return file;
}

t.test('GNU tar sparse files in every sparse format', async (t) => {
  if (!prerequisites(t, { tools: ['tar', 'truncate', 'dd'] })) return;
  const dir = tempDir(t);
  const src = join(dir, 'src');
  mkdirSync(src);
  // 30 islands: more than the 4 map entries of an old-GNU header and the 21 of one extension block.
  const many = makeSparseFile(join(src, 'many'), 30, 65536);
  const few = makeSparseFile(join(src, 'few'), 2, 1 << 20);
  const variants: Array<[string, string[]]> = [
    ['gnu (old GNU type S)', ['--format=gnu']],
    ['pax 0.0', ['--format=pax', '--sparse-version=0.0']],
    ['pax 0.1', ['--format=pax', '--sparse-version=0.1']],
    ['pax 1.0', ['--format=pax', '--sparse-version=1.0']],
  ];
  for (const [name, args] of variants) {
    t.test(name, async (t) => {
      const file = join(dir, `${name.replace(/\W/g, '_')}.tar`);
      run('tar', [...args, '--sparse', '-cf', file, '-C', src, 'many', 'few']);
      const members = await readArchive(file);
      t.same([...members.keys()], ['many', 'few'], 'real names (not GNUSparseFile.*)');
      for (const [key, content] of [['many', many], ['few', few]] as const) {
        const member = members.get(key);
        if (!member) continue;
        t.equal(member.entry.size, content.length, `${key}: real size`);
        t.ok(member.entry.sparse, `${key}: has a sparse map`);
        t.ok(member.data.length < content.length / 2, `${key}: only data regions stored`);
        const stored = (member.entry.sparse ?? []).reduce((n, r) => n + r.length, 0);
        t.equal(stored, member.data.length, `${key}: map accounts for the stored bytes`);
        t.ok(expand(member.entry, member.data).equals(content), `${key}: content rebuilt byte-exact`);
      }
      t.ok((members.get('many')?.entry.sparse?.length ?? 0) >= 30, 'many regions');
    });
  }
});

/**
 * The real Alpine minirootfs (a GNU-format tar.gz): every entry read through decompress +
 * readTar must match what GNU tar lists, and the digests must match sha256sum's.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { decompress } from '../../src/image/decompress.js';
import { digesting } from '../../src/io/digest.js';
import { readTar } from '../../src/tar/reader.js';
import type { TarEntry } from '../../src/tar/entry.js';
import { ALPINE_X86, prerequisites } from '../helpers/env.js';
import { readAll } from '../helpers/tar-build.js';

const TYPE_LETTER: Record<TarEntry['type'], string> = {
  file: '-',
  hardlink: 'h',
  symlink: 'l',
  char: 'c',
  block: 'b',
  dir: 'd',
  fifo: 'p',
};

/** `ls -l` style permissions, as tar -tv prints them (setuid 's'/'S', sticky 't'/'T'). */
function permissions(mode: number): string {
  const bit = (mask: number, on: string) => (mode & mask ? on : '-');
  const special = (exec: number, flag: number, lower: string, upper: string) =>
    mode & flag ? (mode & exec ? lower : upper) : bit(exec, 'x');
  return [
    bit(0o400, 'r'), bit(0o200, 'w'), special(0o100, 0o4000, 's', 'S'),
    bit(0o040, 'r'), bit(0o020, 'w'), special(0o010, 0o2000, 's', 'S'),
    bit(0o004, 'r'), bit(0o002, 'w'), special(0o001, 0o1000, 't', 'T'),
  ].join('');
}

function isoTime(sec: number): string {
  return new Date(sec * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

/** One line of `tar --numeric-owner --full-time -tv` for an entry (GNU tar's layout, unpadded). */
function listing(entry: TarEntry): string {
  const type = TYPE_LETTER[entry.type];
  const size = entry.type === 'char' || entry.type === 'block' ? `${entry.devMajor},${entry.devMinor}` : String(entry.size);
  const link = entry.type === 'symlink' ? ` -> ${entry.linkname}` : entry.type === 'hardlink' ? ` link to ${entry.linkname}` : '';
  return `${type}${permissions(entry.mode)} ${entry.uid}/${entry.gid} ${size} ${isoTime(entry.mtime.sec)} ${entry.path}${link}`;
}

t.test('Alpine minirootfs 3.20.3 x86_64 matches tar -tvzf', async (t) => {
  if (!prerequisites(t, { tools: ['tar'], files: [ALPINE_X86] })) return;
  const expected = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', ALPINE_X86], {
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' },
    maxBuffer: 64 << 20,
    timeout: 60_000,
  })
    .toString('latin1')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/ +/g, ' '));

  const digests: Record<string, string> = {};
  const blob = digesting(createReadStream(ALPINE_X86), (d) => (digests.blob = d));
  const diff = digesting(decompress(blob, 'application/vnd.oci.image.layer.v1.tar+gzip'), (d) => (digests.diff = d));
  const members = await readAll(readTar(diff));

  t.equal(members.length, 518, 'entry count');
  t.equal(members.length, expected.length, 'same count as GNU tar');
  const got = members.map((m) => listing(m.entry));
  const mismatches = got.filter((line, i) => line !== expected[i]);
  t.same(mismatches, [], 'every entry: type, mode, owner, size, mtime, name, link target');

  const gz = readFileSync(ALPINE_X86);
  t.equal(digests.blob, `sha256:${createHash('sha256').update(gz).digest('hex')}`, 'blob digest');
  t.equal(digests.diff, `sha256:${createHash('sha256').update(gunzipSync(gz)).digest('hex')}`, 'DiffID');

  const byPath = new Map(members.map((m) => [m.entry.path, m]));
  const busybox = byPath.get('./bin/busybox');
  t.equal(busybox?.entry.type, 'file');
  t.equal(busybox?.data.subarray(0, 4).toString('latin1'), '\x7fELF', 'busybox is an ELF binary');
  t.equal(busybox?.data.length, busybox?.entry.size);
  t.match(byPath.get('./bin/sh')?.entry, { type: 'symlink', linkname: '/bin/busybox' });
  t.equal(byPath.get('./tmp/')?.entry.mode, 0o1777, 'sticky /tmp');
  t.match(byPath.get('./etc/alpine-release')?.data.toString(), /^3\.20\.3\n$/);
  const passwd = byPath.get('./etc/passwd')?.data.toString() ?? '';
  t.match(passwd, /^root:x:0:0:root:\/root:\/bin\/sh$/m);
});

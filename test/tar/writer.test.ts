/**
 * Archives from our writer read back by our reader and by GNU tar (`tar -tvf`, `tar -x`)
 * with the same names, sizes, times and bytes: ustar fields, the prefix split, and PAX
 * records for what ustar cannot hold.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTar } from '../../src/tar/reader.js';
import { writeTar, type TarFile } from '../../src/tar/writer.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { chunked, readAll } from '../helpers/tar-build.js';

const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * seed + 11) & 255));

/** Every kind of name and number the writer handles; names are byte strings. */
const FILES: TarFile[] = [
  { path: 'empty', data: Buffer.alloc(0) },
  { path: 'one', data: Buffer.from('1'), mode: 0o755, mtime: 1_700_000_000 },
  { path: 'block', data: bytes(512, 3) },
  { path: 'block-and-one', data: bytes(513, 5), uid: 1000, gid: 100 },
  { path: 'n'.repeat(100), data: Buffer.from('exactly 100 bytes of name') },
  { path: `${'d'.repeat(150)}/${'f'.repeat(100)}`, data: Buffer.from('prefix split') },
  { path: utf8(`ünïcödé/${'é'.repeat(45)}.txt`), data: bytes(70_000, 7) },
  // PAX: a name no split fits, ids and a time past the octal fields.
  { path: `${'l'.repeat(200)}/${'m'.repeat(120)}`, data: Buffer.from('pax path') },
  { path: 'big-numbers', data: Buffer.from('pax numbers'), uid: 8 ** 7, gid: 2 ** 22, mtime: 8 ** 11 + 5 },
];

t.test('our reader reads back what the writer wrote', async (t) => {
  const archive = writeTar(FILES, { pax: true });
  t.equal(archive.length % 512, 0, 'whole blocks');
  t.same(archive.subarray(-1024), Buffer.alloc(1024), 'two zero blocks at the end');
  const members = await readAll(readTar(chunked(archive, 700)));
  t.same(
    members.map((m) => [m.entry.path, m.entry.type, m.entry.size, m.entry.mode, m.entry.uid, m.entry.gid, m.entry.mtime.sec]),
    FILES.map((f) => [f.path, 'file', f.data.length, f.mode ?? 0o644, f.uid ?? 0, f.gid ?? 0, f.mtime ?? 0]),
  );
  for (const [i, m] of members.entries()) t.same(m.data, FILES[i].data, `bytes of ${m.entry.path.slice(0, 20)}`);
  const plain = writeTar(FILES.slice(0, 7));
  t.notOk(plain.includes('PaxHeaders'), 'no PAX header where ustar fields suffice');
});

t.test('GNU tar lists and extracts the same names, sizes, times and bytes', async (t) => {
  if (!prerequisites(t, { tools: ['tar'] })) return;
  const dir = tempDir(t);
  const file = join(dir, 'written.tar');
  writeFileSync(file, writeTar(FILES, { pax: true }));
  const listing = execFileSync('tar', ['--numeric-owner', '--quoting-style=literal', '--full-time', '-tvf', file], {
    env: { ...process.env, TZ: 'UTC' },
  });
  const lines = listing.toString('latin1').trimEnd().split('\n');
  t.equal(lines.length, FILES.length, 'one line per file, no PAX headers shown');
  for (const [i, line] of lines.entries()) {
    const f = FILES[i];
    const match = /^(\S+) (\d+)\/(\d+) +(\d+) (\S+ \S+) (.*)$/.exec(line);
    t.ok(match, line.slice(0, 60));
    if (!match) continue;
    t.same(
      [match[1], Number(match[2]), Number(match[3]), Number(match[4]), Date.parse(`${match[5].replace(' ', 'T')}Z`) / 1000, match[6]],
      [(f.mode ?? 0o644) === 0o755 ? '-rwxr-xr-x' : '-rw-r--r--', f.uid ?? 0, f.gid ?? 0, f.data.length, f.mtime ?? 0, f.path],
      f.path.slice(0, 20),
    );
  }
  const out = join(dir, 'out');
  mkdirSync(out);
  execFileSync('tar', ['-xf', file, '-C', out], { stdio: 'pipe' }); // quiet: it warns of the 2242 mtime
  for (const f of FILES) {
    const path = join(out, Buffer.from(f.path, 'latin1').toString('utf8'));
    t.same(readFileSync(path), f.data, `extracted bytes of ${f.path.slice(0, 20)}`);
    t.equal(statSync(path).mtimeMs / 1000, f.mtime ?? 0, 'mtime');
  }
});

t.test('without PAX, what ustar cannot hold is refused', async (t) => {
  t.throws(() => writeTar([FILES[7]]), { code: 'USAGE', message: /does not fit a ustar header \(path\)/ });
  t.throws(() => writeTar([FILES[8]]), { code: 'USAGE', message: /\(uid, gid, mtime\)/ });
  t.throws(() => writeTar([{ path: `${'a'.repeat(160)}/b`, data: Buffer.alloc(0) }]), { code: 'USAGE' }, 'no / within 155 bytes');
});

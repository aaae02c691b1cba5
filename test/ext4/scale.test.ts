/**
 * Scale: 100k entries in one directory (htree, two index levels), 65,001 subdirectories
 * (dir_nlink), and a seeded generative test of random trees.
 */
import t from 'tap';
import { prerequisites, tempDir, debugfs } from '../helpers/env.js';
import { assertClean, build, dir, file, meta, stat, cat } from '../helpers/image.js';
import { dirHash, seedWords } from '../../src/ext4/htree.js';

const E2FS = { tools: ['e2fsck', 'debugfs'] };

t.test('100,000 entries in one directory: an htree the kernel can search', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const count = 100_000;
  const img = await build(
    scratch,
    'bigdir',
    async (w, root) => {
      const d = dir();
      root.children.set('big', d);
      for (let i = 0; i < count; i++) d.children.set(`entry-${i.toString(36)}-${'x'.repeat(i % 40)}`, { kind: 'fifo', ...meta(0o644) });
      d.children.set('real-file', await file(w, 'found me'));
      // bytes >= 0x80 hash differently as signed and unsigned chars: e2fsck checks we chose right
      for (let i = 0; i < 300; i++) d.children.set(Buffer.from([0xc3, 0xa9, 0x80 + (i >> 4), 0xff, 0x80 + (i & 15)]).toString('latin1'), { kind: 'fifo', ...meta(0o600) });
    },
    { size: 1024 },
  );
  assertClean(t, img.path, scratch);
  const s = stat(img.path, '/big');
  t.equal(s.flags & 0x1000, 0x1000, 'EXT4_INDEX_FL is set');
  const dump = debugfs(img.path, 'htree_dump /big');
  t.match(dump, /Indirect levels: 1/, 'two index levels for this many leaves');
  t.equal(cat(img.path, '/big/real-file').toString(), 'found me');
  t.equal(stat(img.path, '/big/entry-0-').type, 'FIFO');
});

t.test('htree hash: half_md4 as e2fsprogs computes it', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const img = await build(scratch, 'hash', async () => {});
  const seed = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) seed[i] = i * 17 + 3;
  const seedUuid = seed.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
  // ASCII names: the signed and unsigned variants agree, so debugfs's dx_hash is the judge.
  // High bytes take the unsigned variant; the 100k-entry test covers them through e2fsck.
  for (const name of ['a', 'lost+found', 'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(33), 'n'.repeat(255), 'Mixed.Case-123_~']) {
    const out = debugfs(img.path, `dx_hash -h half_md4 -s ${seedUuid} ${name}`);
    const expected = /Hash of \S+ is 0x([0-9a-f]+)/.exec(out);
    t.ok(expected, `debugfs hashed the ${name.length}-byte name`, { out });
    t.equal(dirHash(Buffer.from(name, 'latin1'), seedWords(seed)), parseInt(expected![1]!, 16), `hash of ${name.slice(0, 12)}`);
  }
});

t.test('65,001 subdirectories: dir_nlink sets the parent link count to 1', async (t) => {
  if (!prerequisites(t, E2FS)) return;
  const scratch = tempDir(t);
  const img = await build(
    scratch,
    'nlink',
    async (_w, root) => {
      const d = dir();
      root.children.set('many', d);
      for (let i = 0; i < 65_001; i++) d.children.set(`d${i}`, dir());
      const few = dir();
      root.children.set('few', few);
      for (let i = 0; i < 3; i++) few.children.set(`d${i}`, dir());
    },
    { size: 2048 },
  );
  assertClean(t, img.path, scratch);
  t.equal(stat(img.path, '/many').links, 1, 'over EXT4_LINK_MAX subdirectories: 1');
  t.equal(stat(img.path, '/few').links, 5, '2 + 3 subdirectories');
  t.equal(stat(img.path, '/many/d64999').links, 2);
});

/**
 * The chunked sha256 computed from the writes (WrittenFileDigest, what the ext4 writer
 * records in the sidecar) equals the one computed by reading the finished file back and the
 * one `split -b 16M` + `sha256sum` compose: holes, sizes not a multiple of the chunk,
 * chunks written out of order or overwritten, bytes truncated away, and whole images.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { assertClean, build, chunks, dir, file, meta } from '../helpers/image.js';
import { compositeSha256Of } from '../helpers/composite.js';
import { chunkedDigestFile, DIGEST_CHUNK_BYTES, WrittenFileDigest } from '../../src/io/digest.js';

const MIB = 1024 * 1024;
const TOOLS = { tools: ['split', 'sha256sum'] };

/** Writes `writes` in order into a new file, truncates it to `size`; the digest from the writes. */
async function writeAndDigest(path: string, size: number, writes: Array<[position: number, data: Buffer]>) {
  const digest = new WrittenFileDigest();
  const fd = openSync(path, 'wx');
  try {
    for (const [position, data] of writes) {
      writeSync(fd, data, 0, data.length, position);
      await digest.written(position, data);
    }
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return digest.digest(path, size);
}

t.test('from the writes: the value of reading the file back and of split + sha256sum', async (t) => {
  if (!prerequisites(t, TOOLS)) return;
  const scratch = tempDir(t);
  const cases: Array<{ name: string; size: number; writes: Array<[number, Buffer]>; hashed: number; readBack: number }> = [
    // In order, across chunk boundaries, with holes between and a ragged end.
    { name: 'ordered', size: 3 * 16 * MIB + 123, writes: [[0, randomBytes(MIB + 5)], [15 * MIB, randomBytes(2 * MIB)], [40 * MIB, randomBytes(4096)], [48 * MIB, randomBytes(123)]], hashed: 4, readBack: 0 },
    // Nothing written: the zero constant, and a short zero tail hashed.
    { name: 'holes', size: 2 * 16 * MIB + 100, writes: [], hashed: 1, readBack: 0 },
    // Backwards in chunk 0 (as the superblock goes last), over earlier bytes in chunk 2 (as released blocks are reused).
    { name: 'out of order', size: 64 * MIB, writes: [[8192, randomBytes(MIB)], [1024, randomBytes(1024)], [32 * MIB, randomBytes(8192)], [32 * MIB + 4096, randomBytes(4096)], [20 * MIB, randomBytes(10)]], hashed: 3, readBack: 2 },
    // Written past the final length, then truncated away.
    { name: 'truncated', size: 20 * MIB, writes: [[MIB, randomBytes(4096)], [19 * MIB, randomBytes(2 * MIB)], [40 * MIB, randomBytes(4096)]], hashed: 2, readBack: 1 },
  ];
  for (const c of cases) {
    const path = join(scratch, `${c.name.replace(/ /g, '-')}.img`);
    const got = await writeAndDigest(path, c.size, c.writes);
    t.equal(got.sha256, compositeSha256Of(path).hex, `${c.name}: split + sha256sum`);
    t.same(got, { ...(await chunkedDigestFile(path)), readBackChunks: c.readBack }, `${c.name}: the file read back`);
    t.same([got.chunks, got.hashedChunks, got.readBackChunks], [Math.ceil(c.size / DIGEST_CHUNK_BYTES), c.hashed, c.readBack], `${c.name}: chunks hashed and read back`);
  }
});

t.test('ext4 images: the sidecar digest needs no reading back and equals the file\'s', async (t) => {
  if (!prerequisites(t, { tools: [...TOOLS.tools, 'e2fsck'], files: [ALPINE_X86] })) return;
  const scratch = tempDir(t);

  // The Alpine minirootfs at 40 MiB: not a multiple of the chunk.
  const out = join(scratch, 'alpine.ext4');
  const built = cli(['rootfs', 'from-docker', '-q', '-n', 'alpine', '-i', `tar:${ALPINE_X86}`, '-s', '40', '-o', out]);
  t.equal(built.status, 0, built.stderr);
  const sidecar = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
  t.equal(sidecar.chunkedSha256, compositeSha256Of(out).hex, 'alpine, 40 MiB: the sidecar holds split + sha256sum');
  t.equal(sidecar.chunkedSha256, (await chunkedDigestFile(out)).sha256, 'and the file read back');
  assertClean(t, out, scratch);

  // A sparse file, a file larger than a chunk, and a released file whose blocks are reused.
  const img = await build(scratch, 'mixed', async (w, root) => {
    const gone = await w.writeFile(chunks(randomBytes(3 * MIB)), 3 * MIB);
    w.release(gone);
    const regions = [{ offset: 0, length: 5000 }, { offset: 5000 + 2 * MIB, length: 7 }];
    const stored = randomBytes(5007);
    root.children.set('sparse', { kind: 'file', ...meta(0o644), content: await w.writeFile(chunks(stored), 5007 + 2 * MIB, regions) });
    root.children.set('big', await file(w, randomBytes(20 * MIB + 3)));
    root.children.set('reused', await file(w, randomBytes(2 * MIB)));
    const sub = dir();
    sub.children.set('small', await file(w, 'small'));
    root.children.set('sub', sub);
  }, { size: 72 });
  t.equal(img.chunkedSha256, compositeSha256Of(img.path).hex, 'a generated tree, 72 MiB: split + sha256sum');
  t.equal(img.chunkedSha256, (await chunkedDigestFile(img.path)).sha256, 'and the file read back');
  assertClean(t, img.path, scratch);

  const auto = await build(scratch, 'auto', async (w, root) => {
    root.children.set('data', await file(w, randomBytes(30 * MIB)));
  }, { size: 'auto' });
  t.equal(auto.chunkedSha256, compositeSha256Of(auto.path).hex, 'size auto (laid out for 1 TiB while data streams): split + sha256sum');
  assertClean(t, auto.path, scratch);
});

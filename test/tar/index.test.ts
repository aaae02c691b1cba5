/**
 * The random-access index (docker save / OCI archives) and the streaming reader decode
 * headers with the same code: they refuse the same damaged archives with the same words,
 * and find the same names (byte strings), sizes and bytes.
 */
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TarIndex } from '../../src/tar/archive-index.js';
import { readTar } from '../../src/tar/reader.js';
import { tempDir } from '../helpers/env.js';
import { chunked, gnuLongLink, gnuLongName, header, member, paxMember, readAll, tarball } from '../helpers/tar-build.js';

let count = 0;

/** Writes `tar` to a file and opens it both ways; the index's and the reader's outcome. */
async function both(t: Test, tar: Buffer) {
  const file = join(tempDir(t), `archive-${count++}.tar`);
  writeFileSync(file, tar);
  const index = await TarIndex.read(file).catch((err: unknown) => err as Error);
  const reader = await readAll(readTar(chunked(tar, 1000))).catch((err: unknown) => err as Error);
  return { file, index, reader };
}

/** Both refuse, the reader with TAR and the index with INPUT, naming the same problem. */
async function bothRefuse(t: Test, tar: Buffer, detail: string) {
  const { index, reader } = await both(t, tar);
  t.type(reader, Error, 'the reader refuses');
  t.type(index, Error, 'the index refuses');
  if (!(reader instanceof Error) || !(index instanceof Error)) return;
  t.match(reader, { code: 'TAR' });
  t.match(index, { code: 'INPUT', message: /is not a readable tar archive/ });
  t.ok(reader.message.includes(detail), `reader: ${reader.message}`);
  t.ok(index.message.includes(detail), `index: ${index.message}`);
}

t.test('damaged headers are refused the same way', async (t) => {
  t.test('a negative base-256 size', (t) =>
    bothRefuse(t, tarball(member({ name: 'neg', size: { base256: -512 } })), 'entry "neg" (header at byte 0) has a negative size (-512)'),
  );
  t.test('a base-256 size beyond 2^53', (t) =>
    bothRefuse(
      t,
      tarball(header({ name: 'vast', size: { base256: 2n ** 80n } })),
      `entry "vast" (header at byte 0) has an absurd size (${2n ** 80n})`,
    ),
  );
  t.test('a bad header checksum', (t) =>
    bothRefuse(t, tarball(member({ name: 'sum', checksum: 1 }, 'x')), 'entry "sum" (header at byte 0) has a bad header checksum'),
  );
  t.test('a member size beyond the end of the file', (t) =>
    bothRefuse(
      t,
      Buffer.concat([member({ name: 'first' }, 'abc'), header({ name: 'cut', size: 4096 }), Buffer.alloc(100)]),
      'the entry "cut" claims 4096 bytes but the archive ends after 100',
    ),
  );
  t.test('a header cut short', (t) =>
    bothRefuse(t, Buffer.concat([member({ name: 'first' }, 'abc'), Buffer.alloc(200, 1)]), 'the archive ends inside a header at byte 1024'),
  );
  t.test('a malformed PAX size', (t) =>
    bothRefuse(
      t,
      tarball(paxMember({ size: '12x' }), member({ name: 'p' }, 'x')),
      'entry "p" (header at byte 1024) has a malformed extended header: "size" is not a valid number',
    ),
  );
  t.end();
});

t.test('names are the same byte strings, with the same bytes behind them', async (t) => {
  const gnuName = Buffer.concat([Buffer.from(`blobs/${'g'.repeat(120)}`), Buffer.from([0xff, 0xc3, 0x28])]);
  const paxName = Buffer.concat([Buffer.from(`layers/${'p'.repeat(110)}/`), Buffer.from([0xe9, 0x80]), Buffer.from('.tar')]);
  const big = Buffer.alloc(1500, 7);
  const { file, index, reader } = await both(
    t,
    tarball(
      gnuLongName(gnuName),
      member({ name: 'truncated', format: 'gnu' }, 'gnu data'),
      paxMember([['path', paxName], ['size', String(big.length)]]),
      header({ name: 'short', size: 0 }),
      big,
      Buffer.alloc(36),
      member({ name: 'utf8-é', prefix: 'dir' }, Buffer.from('ustar data')),
    ),
  );
  if (index instanceof Error) throw index;
  if (reader instanceof Error) throw reader;
  const bytes = readFileSync(file);
  const names = [gnuName.toString('latin1'), paxName.toString('latin1'), 'dir/utf8-é'];
  t.same(
    reader.map((m) => m.entry.path),
    names,
    'the reader keeps name bytes one char per byte',
  );
  for (const [i, name] of names.entries()) {
    const found = index.find(name);
    t.ok(found, `the index finds ${JSON.stringify(name)}`);
    if (!found) continue;
    t.equal(found.size, reader[i].data.length, 'same size (the PAX size wins over the header)');
    t.same(bytes.subarray(found.offset, found.offset + found.size), reader[i].data, 'same bytes');
  }
  t.equal(index.find(gnuName.toString('utf8')), undefined, 'names are not decoded as UTF-8');
});

t.test('links resolve by byte names, with long link names', async (t) => {
  const target = Buffer.concat([Buffer.from(`blobs/sha256/${'a'.repeat(100)}`), Buffer.from([0xfe])]);
  const { index, reader } = await both(
    t,
    tarball(
      gnuLongName(target),
      member({ name: 'target', format: 'gnu' }, 'layer bytes'),
      gnuLongLink(Buffer.concat([Buffer.from('../'), target])),
      member({ name: 'dir/sym', typeflag: '2', format: 'gnu' }),
      paxMember([['linkpath', target]]),
      member({ name: 'hard', typeflag: '1' }),
      member({ name: 'dir2/rel', typeflag: '2', linkname: '../dir/sym' }),
    ),
  );
  if (index instanceof Error) throw index;
  if (reader instanceof Error) throw reader;
  t.same(
    reader.map((m) => [m.entry.path, m.entry.type, m.entry.linkname]),
    [
      [target.toString('latin1'), 'file', ''],
      ['dir/sym', 'symlink', `../${target.toString('latin1')}`],
      ['hard', 'hardlink', target.toString('latin1')],
      ['dir2/rel', 'symlink', '../dir/sym'],
    ],
  );
  const direct = index.find(target.toString('latin1'));
  t.ok(direct);
  for (const name of ['dir/sym', 'hard', 'dir2/rel', './hard']) t.same(index.find(name), direct, `${name} leads to the target`);
});

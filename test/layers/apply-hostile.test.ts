/**
 * Hostile and odd layers: names that climb out, symlink loops, links out of the root,
 * malformed whiteouts, absurd numbers; and hard-link bookkeeping under stress.
 */
import t from 'tap';
import { applyLayer, type ApplyOptions } from '../../src/layers/apply.js';
import type { TarMember } from '../../src/tar/entry.js';
import { MAX_NAME_BYTES, MAX_PATH_BYTES } from '../../src/layers/paths.js';
import { MAX_LOOKUP_COMPONENTS, MAX_SYMLINK_FOLLOWS } from '../../src/tree/resolve.js';
import { readTar } from '../../src/tar/reader.js';
import { inventedTime, makeRoot, type DirInode, type FileContent } from '../../src/tree/tree.js';
import { InfraError } from '../../src/errors.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { dir, entry, file, hardlink, layer, listing, lookup, member, namesOf, symlink } from '../helpers/members.js';
import { buildLayer, chunked, type LayerEntry } from '../helpers/tar-build.js';

const IMAGE: ApplyOptions = { whiteouts: true };

async function build(layers: TarMember[][]): Promise<{ root: DirInode; sink: MemorySink }> {
  const root = makeRoot(inventedTime());
  const sink = new MemorySink();
  for (const members of layers) await applyLayer(root, layer(...members), sink, IMAGE);
  return { root, sink };
}

function contentAt(root: DirInode, path: string): FileContent {
  const inode = lookup(root, path);
  if (inode?.kind !== 'file') throw new Error(`${path} is ${inode?.kind ?? 'missing'}, not a file`);
  return inode.content;
}

async function failure(layers: TarMember[][]): Promise<InfraError> {
  try {
    await build(layers);
  } catch (err) {
    if (err instanceof InfraError) return err;
    throw err;
  }
  throw new Error('expected the layers to be rejected');
}

t.test('.. above the root is rejected with a message naming the entry', async (t) => {
  const err = await failure([[file('a/../../../etc/shadow', 'x')]]);
  t.equal(err.code, 'LAYER');
  t.match(err.message, /file "a\/\.\.\/\.\.\/\.\.\/etc\/shadow" climbs out of the image root/);
  t.match(err.message, /rebuild/);
});

t.test('symlink loops in a parent path fail instead of hanging', async (t) => {
  for (const [through, loop] of [
    ['a', [symlink('a', 'b'), symlink('b', 'a')]],
    ['self', [symlink('self', 'self')]],
    ['a', [symlink('a', 'self/x'), symlink('self', '/self')]],
    ['d/up', [dir('d/'), symlink('d/up', '../d/up/x')]],
  ] as const) {
    const err = await failure([[...loop], [file(`${through}/payload`, 'x')]]);
    t.equal(err.code, 'LAYER', `loop through ${through}`);
    t.match(err.message, /symlink loop/);
  }
  await t.rejects(build([[symlink('a', 'a')], [file('a/.wh.x', '')]]), { code: 'LAYER' }, 'in a whiteout path too');
  await t.rejects(build([[symlink('a', 'a')], [hardlink('b', 'a/x')]]), { code: 'LAYER' }, 'in a link target too');
});

t.test(`a chain of ${MAX_SYMLINK_FOLLOWS} symlinks resolves; one more fails`, async (t) => {
  const chain = (length: number): TarMember[] => {
    const links = [dir('real/')];
    for (let i = 0; i < length; i++) links.push(symlink(`s${i}`, i === length - 1 ? 'real' : `s${i + 1}`));
    return links;
  };
  const ok = await build([chain(MAX_SYMLINK_FOLLOWS), [file('s0/f', 'F')]]);
  t.equal(lookup(ok.root, 'real/f')?.kind, 'file');
  await t.rejects(build([chain(MAX_SYMLINK_FOLLOWS + 1), [file('s0/f', 'F')]]), { code: 'LAYER' });
});

t.test('a parent that is a file, device or dangling-through-file fails', async (t) => {
  await t.rejects(build([[file('a', 'A')], [file('a/b', 'B')]]), { code: 'LAYER', message: /not a directory/ });
  await t.rejects(build([[member(entry('dev/null', 'char', { devMajor: 1, devMinor: 3 }))], [dir('dev/null/x/')]]), {
    code: 'LAYER',
  });
  await t.rejects(build([[file('f', 'F'), symlink('l', 'f')], [file('l/x', 'X')]]), { code: 'LAYER' });
});

t.test('a dangling symlink parent creates its target directories inside the root', async (t) => {
  const b = await build([[symlink('lib', '/usr/lib/../lib64')], [file('lib/x.so', 'E')]]);
  t.equal(lookup(b.root, 'usr/lib64/x.so')?.kind, 'file', '.. in the target is walked like any component');
  t.equal(lookup(b.root, 'lib')?.kind, 'symlink');
});

t.test('malformed whiteouts fail; AUFS bookkeeping is skipped', async (t) => {
  for (const name of ['.wh.', '.wh..', '.wh...', 'd/.wh.']) {
    await t.rejects(build([[dir('d/')], [file(name, '')]]), { code: 'LAYER', message: /whiteout/ }, name);
  }
  await t.rejects(build([[file('.wh.x/y', 'Y')]]), { code: 'LAYER', message: /under a whiteout/ });
  const b = await build([
    [file('a', 'A')],
    [dir('.wh..wh.plnk/'), file('.wh..wh.plnk/1234.5678', 'P'), file('.wh..wh.aufs', ''), file('.wh..wh.orph', '')],
  ]);
  t.same(listing(b.root), ['a'], 'nothing of AUFS in the result, nothing removed');
});

t.test('whiteouts resolve their parent through symlinks', async (t) => {
  const b = await build([[dir('usr/lib/'), file('usr/lib/x', 'X'), symlink('lib', 'usr/lib')], [file('lib/.wh.x', '')]]);
  t.same(listing(b.root), ['lib', 'usr/', 'usr/lib/']);
  t.equal(b.sink.released.length, 1);
});

t.test('ids beyond 32 bits, empty names and empty symlink targets fail', async (t) => {
  await t.rejects(build([[file('f', 'x', { uid: 2 ** 32 })]]), { code: 'LAYER', message: /owner/ });
  await t.rejects(build([[file('f', 'x', { gid: -1 })]]), { code: 'LAYER' });
  await t.rejects(build([[file('', 'x')]]), { code: 'LAYER', message: /empty name/ });
  await t.rejects(build([[symlink('l', '')]]), { code: 'LAYER', message: /empty target/ });
});

t.test('a hard link to itself, or repeated, changes nothing', async (t) => {
  const b = await build([[file('a', 'A')], [hardlink('b', 'a'), hardlink('b', 'a'), hardlink('a', 'a')]]);
  t.equal(namesOf(b.root, lookup(b.root, 'a')!), 2);
  t.same(b.sink.released, []);
  t.same(b.sink.accountingProblems(b.root), []);
});

t.test('a hard link that replaces the directory holding its own target', async (t) => {
  const b = await build([[dir('d/'), file('d/f', 'F'), file('d/g', 'G')], [hardlink('d', 'd/f')]]);
  t.same(listing(b.root), ['d']);
  t.equal(b.sink.text(contentAt(b.root, 'd')), 'F');
  t.same(
    b.sink.released.map((c) => b.sink.text(c)),
    ['G'],
    'only the content with no name left is released',
  );
  t.same(b.sink.accountingProblems(b.root), []);
});

t.test('a hard-linked content is released once, when its last name goes', async (t) => {
  const root = makeRoot(inventedTime());
  const sink = new MemorySink();
  const apply = (...members: TarMember[]) => applyLayer(root, layer(...members), sink, IMAGE);
  await apply(dir('d/'), file('d/a', 'A'), hardlink('d/b', 'd/a'), hardlink('e/c', 'd/a'));
  await apply(file('.wh.d', ''));
  t.same(sink.released, [], 'e/c still names it');
  t.same(listing(root), ['e/', 'e/c']);
  await apply(file('e/.wh..wh..opq', ''));
  t.equal(sink.released.length, 1);
  t.equal(sink.liveCount(), 0);
  t.same(sink.accountingProblems(root), []);
});

t.test('a file replacing an entry releases the old content before writing the new', async (t) => {
  const root = makeRoot(inventedTime());
  const sink = new MemorySink();
  await applyLayer(root, layer(file('big', 'old')), sink, IMAGE);
  let liveWhileWriting = -1;
  const body = (async function* () {
    liveWhileWriting = sink.liveCount();
    yield Buffer.from('new');
  })();
  await applyLayer(root, layer({ entry: entry('big', 'file', { size: 3 }), body }), sink, IMAGE);
  t.equal(liveWhileWriting, 0, 'the sink could reuse the old blocks for the new bytes');
  t.equal(sink.text(contentAt(root, 'big')), 'new');
});

t.test('names ext4 or Linux cannot hold are rejected; the longest that fit are kept', async (t) => {
  const longest = 'n'.repeat(MAX_NAME_BYTES);
  const deepest = `${'d/'.repeat(MAX_PATH_BYTES / 2 - 1)}ff`;
  t.equal(deepest.length, MAX_PATH_BYTES);
  const b = await build([[file(`dir/${longest}`, 'L'), file(deepest, 'D')]]);
  t.equal(lookup(b.root, `dir/${longest}`)?.kind, 'file');
  t.equal(lookup(b.root, deepest)?.kind, 'file', '2047 levels deep');
  await t.rejects(build([[file(`dir/${longest}n`, 'x')]]), { code: 'LAYER', message: /longer than 255 bytes/ });
  await t.rejects(build([[file(`${deepest}f`, 'x')]]), { code: 'LAYER', message: /PATH_MAX/ });
  await t.rejects(build([[file('a/'.repeat(100_000) + 'f', 'x')]]), { code: 'LAYER' }, 'a hostile depth');
});

t.test('only a .wh. prefix makes a whiteout (not a regex match anywhere in the name)', async (t) => {
  const b = await build([
    [file('a', 'A'), file('b', 'B')],
    [file('x.wh.a', '1'), file('.whb', '2'), file('d/a.wh.', '3'), file('_wh_a', '4')],
  ]);
  t.same(listing(b.root), ['.whb', '_wh_a', 'a', 'b', 'd/', 'd/a.wh.', 'x.wh.a']);
  t.same(b.sink.released, []);
});

t.test('symlinks into a deep chain: bounded work per lookup, refused with LAYER', { timeout: 120_000 }, async (t) => {
  // A 2000-deep chain; at its bottom, s1 -> the bottom itself and each s<i> -> /chain/s<i-1>,
  // so a name through s39 walks ~80,000 components. 2,000 such members took 86 s.
  const chain = 'd/'.repeat(2000);
  const entries: LayerEntry[] = [{ path: chain }, { path: `${chain}s1`, type: 'symlink', linkname: `/${chain}` }];
  for (let i = 2; i <= 39; i++) entries.push({ path: `${chain}s${i}`, type: 'symlink', linkname: `/${chain}s${i - 1}` });
  entries.push({ path: `${chain}s1/ok`, data: 'OK' });
  for (let i = 0; i < 2000; i++) entries.push({ path: `${chain}s39/x${i}`, data: 'X' });
  const root = makeRoot(inventedTime());
  const sink = new MemorySink();
  const err = await applyLayer(root, readTar(chunked(buildLayer(entries))), sink, IMAGE).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof InfraError, 'refused');
  t.equal((err as InfraError).code, 'LAYER');
  t.match((err as InfraError).message, /s39\/x0": its parent path walks more than 4096 components through symlinks/);
  t.match((err as InfraError).message, /rebuild it/);
  t.equal(MAX_LOOKUP_COMPONENTS, 4096);
  t.equal(lookup(root, `${chain}ok`)?.kind, 'file', 'a name through one symlink into the chain (4002 components) is within the budget');
});

/**
 * Trees deeper than the call stack: symlinked parents make depth that the path-length
 * limit does not bound, so every walk over the tree must be iterative. A 10,000-level
 * tree goes through applyLayer, walk and makeBootable without a RangeError.
 */
import t from 'tap';
import { applyLayer } from '../../src/layers/apply.js';
import { makeBootable } from '../../src/boot/bootable.js';
import { makeDir, makeRoot, toolMeta, walk, type DirInode, type FileInode } from '../../src/tree/tree.js';
import { lookup } from '../../src/tree/edit.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { file, layer } from '../helpers/members.js';
import { DEFAULT_CONFIG, TEST_TIME } from '../helpers/boot.js';

const LEVELS = 10_000;

/** /bin/sh, and /deep/d/d/…/d/f, LEVELS directories deep. */
async function deepTree(sink: MemorySink): Promise<{ root: DirInode; bottom: DirInode; leaf: FileInode }> {
  const root = makeRoot(TEST_TIME);
  const bin = makeDir(toolMeta(0o755, TEST_TIME));
  root.children.set('bin', bin);
  bin.children.set('sh', { kind: 'file', ...toolMeta(0o755, TEST_TIME), content: await sink.writeBuffer(Buffer.from('sh')) });
  let bottom = makeDir(toolMeta(0o755, TEST_TIME));
  root.children.set('deep', bottom);
  for (let i = 1; i < LEVELS; i++) {
    const next = makeDir(toolMeta(0o755, TEST_TIME));
    bottom.children.set('d', next);
    bottom = next;
  }
  const leaf: FileInode = { kind: 'file', ...toolMeta(0o644, TEST_TIME), content: await sink.writeBuffer(Buffer.from('leaf')) };
  bottom.children.set('f', leaf);
  return { root, bottom, leaf };
}

t.test(`a ${LEVELS}-level tree: walk, makeBootable, applyLayer`, async (t) => {
  const sink = new MemorySink();
  const { root, leaf } = await deepTree(sink);

  let entries = 0;
  let deepest = '';
  walk(root, (path, inode) => {
    entries++;
    if (inode === leaf) deepest = path;
  });
  t.equal(entries, 2 + LEVELS + 1, 'bin, bin/sh, the chain and its file');
  t.equal(deepest, `deep/${'d/'.repeat(LEVELS - 1)}f`);

  const report = await makeBootable(root, sink, {
    init: 'minimal',
    guestRunner: 'builtin',
    config: DEFAULT_CONFIG,
    hostname: 'deep',
    time: TEST_TIME,
  });
  t.equal(report.init, 'minimal');
  t.equal(lookup(root, '/sbin/init')?.kind, 'file');

  // applyLayer counts the tree's hard links over the whole tree; replacing /deep drops its subtree.
  await applyLayer(root, layer(file('deep', 'now a file')), sink, { whiteouts: true });
  t.equal(lookup(root, '/deep')?.kind, 'file');
  t.ok(sink.released.some((content) => content === leaf.content), 'the deep file is released');
  t.same(sink.accountingProblems(root), []);
});

t.test(`an opaque whiteout over a ${LEVELS}-level tree hides it all`, async (t) => {
  const sink = new MemorySink();
  const { root, leaf } = await deepTree(sink);
  await applyLayer(root, layer(file('.wh..wh..opq', '')), sink, { whiteouts: true });
  t.same([...root.children.keys()], []);
  t.ok(sink.released.some((content) => content === leaf.content), 'the deep file is released');
  t.equal(sink.liveCount(), 0);
});

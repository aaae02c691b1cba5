/**
 * i_links_count at its limits, judged by e2fsprogs: ext4 counts at most EXT4_LINK_MAX
 * (65,000) names of one inode, and a directory of more subdirectories than that counts
 * stores 1 (the dir_nlink feature, as the kernel's ext4_inc_count() does).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { numberTree } from '../../src/ext4/planning.js';
import { fsck, prerequisites, tempDir } from '../helpers/env.js';
import { build, dir, file, stat, T0 } from '../helpers/image.js';
import { makeRoot } from '../../src/tree/tree.js';

const EXT4_LINK_MAX = 65000;

t.test('a file with 65,000 names: written with that count, e2fsck -fn clean', async (t) => {
  if (!prerequisites(t, { tools: ['e2fsck', 'debugfs'] })) return;
  const scratch = tempDir(t);
  const built = await build(scratch, 'links', async (w, root) => {
    const f = await file(w, 'shared');
    const d = dir();
    root.children.set('d', d);
    for (let i = 0; i < EXT4_LINK_MAX; i++) d.children.set(`l${i}`, f);
  });
  const checked = fsck(built.path);
  t.ok(checked.ok, 'e2fsck -fn finds nothing', { output: checked.output });
  t.equal(stat(built.path, '/d/l64999').links, EXT4_LINK_MAX);
});

t.test('a file with 65,001 names: the writer refuses it and leaves nothing', async (t) => {
  const scratch = tempDir(t);
  await t.rejects(
    build(scratch, 'over', async (w, root) => {
      const f = await file(w, 'shared');
      const d = dir();
      root.children.set('d', d);
      for (let i = 0; i <= EXT4_LINK_MAX; i++) d.children.set(`l${i}`, f);
    }),
    { code: 'LAYER', message: "'/d/l9999' has more than 65000 hard links, ext4's limit (EXT4_LINK_MAX); keep at most 65000 names for one file." },
  );
  t.same(readdirSync(scratch), [], 'no image, no temporary file');
  t.notOk(existsSync(join(scratch, 'over.img')));
});

t.test('directory link counts: 2 + subdirectories up to 65,000, then 1 (dir_nlink)', async (t) => {
  for (const [subdirs, links] of [
    [EXT4_LINK_MAX - 2, EXT4_LINK_MAX],
    [EXT4_LINK_MAX - 1, 1],
  ] as const) {
    const root = makeRoot(T0);
    const d = dir();
    root.children.set('d', d);
    for (let i = 0; i < subdirs; i++) d.children.set(`s${i}`, dir());
    const numbered = numberTree(root, T0);
    t.equal(numbered.others.find((n) => n.inode === d)!.links, links, `${subdirs} subdirectories`);
  }
});

t.test('a directory of 64,999 subdirectories: e2fsck -fn accepts its count of 1', async (t) => {
  if (!prerequisites(t, { tools: ['e2fsck', 'debugfs'] })) return;
  const scratch = tempDir(t);
  const built = await build(
    scratch,
    'dirs',
    async (_w, root) => {
      const d = dir();
      root.children.set('d', d);
      for (let i = 0; i < EXT4_LINK_MAX - 1; i++) d.children.set(`s${i}`, dir());
    },
    { size: 'auto' },
  );
  const checked = fsck(built.path);
  t.ok(checked.ok, 'e2fsck -fn finds nothing', { output: checked.output });
  t.equal(stat(built.path, '/d').links, 1);
  t.equal(stat(built.path, '/').links, 4, 'the root: ., .., and d and lost+found as ..');
});

/**
 * The one tree resolver (src/tree/resolve.ts) and its options, and the hard-link name
 * counts (src/tree/links.ts) that decide when a content is released.
 */
import t from 'tap';
import { InfraError } from '../../src/errors.js';
import { ContentRefs } from '../../src/tree/links.js';
import { MAX_LOOKUP_COMPONENTS, MAX_SYMLINK_FOLLOWS, resolve, type ResolveOptions, type ResolveProblem } from '../../src/tree/resolve.js';
import { makeDir, makeRoot, toolMeta, type DirInode, type FileInode, type Inode } from '../../src/tree/tree.js';
import { MemorySink } from '../helpers/memory-sink.js';

const time = { sec: 1_700_000_000, nsec: 0 };

function symlinkTo(target: string): Inode {
  return { kind: 'symlink', ...toolMeta(0o777, time), target };
}

/** /usr/lib/x, /lib -> usr/lib, /abs -> /usr, /f (a file), /dangling -> new/dir */
function tree(): { root: DirInode; usr: DirInode; lib: DirInode } {
  const root = makeRoot(time);
  const usr = makeDir(toolMeta(0o755, time));
  const lib = makeDir(toolMeta(0o755, time));
  root.children.set('usr', usr);
  usr.children.set('lib', lib);
  lib.children.set('x', { kind: 'file', ...toolMeta(0o644, time), content: { size: 1 } });
  root.children.set('lib', symlinkTo('usr/lib'));
  root.children.set('abs', symlinkTo('/usr'));
  root.children.set('f', { kind: 'file', ...toolMeta(0o644, time), content: { size: 1 } });
  root.children.set('dangling', symlinkTo('new/dir'));
  return { root, usr, lib };
}

/** Options that record problems instead of wording them. */
function options(extra: Partial<ResolveOptions> = {}): ResolveOptions & { problems: ResolveProblem[] } {
  const problems: ResolveProblem[] = [];
  return {
    followLast: true,
    notADirectory: 'missing',
    fail: (problem) => {
      problems.push(problem);
      return new InfraError('LAYER', problem.kind);
    },
    ...extra,
    problems,
  };
}

t.test('symlinks are followed inside the root; the last one only when asked', async (t) => {
  const { root, usr, lib } = tree();
  const through = resolve(root, ['lib', 'x'], options());
  t.equal(through?.parent, lib);
  t.same(through?.realNames, ['usr', 'lib', 'x']);
  t.equal(resolve(root, ['abs', '..', '..', '..', 'usr'], options())?.inode, usr, '.. stops at the root');
  t.equal(resolve(root, ['lib'], options({ followLast: false }))?.inode?.kind, 'symlink');
  t.equal(resolve(root, ['lib'], options())?.inode, lib);
  t.equal(resolve(root, ['abs', 'lib', '..'], options())?.inode, usr, 'a path ending in .. names the directory');
  t.equal(resolve(root, [], options())?.inode, root);
  t.equal(resolve(root, ['', '.', 'usr', ''], options())?.inode, usr, 'empty and . components are skipped');
});

t.test('missing directories: undefined, or created on the way but never the last', async (t) => {
  const { root } = tree();
  t.equal(resolve(root, ['nope', 'x'], options()), undefined);
  const made: string[] = [];
  const createMissing = (parent: DirInode, name: string): DirInode => {
    made.push(name);
    const dir = makeDir(toolMeta(0o700, time));
    parent.children.set(name, dir);
    return dir;
  };
  const at = resolve(root, ['dangling', 'leaf'], options({ createMissing }));
  t.same(made, ['new', 'dir'], 'behind a dangling symlink too');
  t.equal(at?.inode, undefined, 'the last component is not created');
  t.same(at?.realNames, ['new', 'dir', 'leaf']);
  t.equal(((root.children.get('new') as DirInode).children.get('dir') as DirInode).mode, 0o700);
});

t.test('a component that is not a directory: missing, or a problem naming it', async (t) => {
  const { root } = tree();
  t.equal(resolve(root, ['f', 'x'], options()), undefined);
  const failing = options({ notADirectory: 'fail' });
  t.throws(() => resolve(root, ['f', 'x'], failing), { code: 'LAYER' });
  t.equal(failing.problems[0]?.kind, 'not-a-directory');
  t.equal(failing.problems[0]?.name, 'f');
  t.equal(resolve(root, ['f'], failing)?.inode?.kind, 'file', 'the last component may be anything');
});

t.test('entered sees the root and every directory on the way', async (t) => {
  const { root, usr, lib } = tree();
  const entered: DirInode[] = [];
  resolve(root, ['lib', 'x'], options({ entered: (dir) => entered.push(dir) }));
  t.same(entered, [root, usr, lib]);
});

t.test(`${MAX_SYMLINK_FOLLOWS} symlinks in one lookup resolve; one more is a loop`, async (t) => {
  const root = makeRoot(time);
  root.children.set('real', makeDir(toolMeta(0o755, time)));
  const chain = (length: number): string[] => {
    for (let i = 0; i < length; i++) root.children.set(`s${i}`, symlinkTo(i === length - 1 ? 'real' : `s${i + 1}`));
    return ['s0', 'f'];
  };
  t.equal(resolve(root, chain(MAX_SYMLINK_FOLLOWS), options())?.parent, root.children.get('real'));
  const looping = options();
  t.throws(() => resolve(root, chain(MAX_SYMLINK_FOLLOWS + 1), looping), { code: 'LAYER' });
  t.same(looping.problems, [{ kind: 'loop', name: `s${MAX_SYMLINK_FOLLOWS}` }]);
});

t.test(`one lookup walks at most ${MAX_LOOKUP_COMPONENTS} components, symlink targets included`, async (t) => {
  const root = makeRoot(time);
  let bottom = root;
  for (let i = 0; i < 2000; i++) {
    const next = makeDir(toolMeta(0o755, time));
    bottom.children.set('d', next);
    bottom = next;
  }
  const chain = Array<string>(2000).fill('d');
  bottom.children.set('top', symlinkTo('/'));
  // 2000 down, `top` and its target's two empty components (3), twice, then down again.
  const back = (down: number): string[] => [...chain, 'top', ...chain, 'top', ...chain.slice(0, down)];
  const within = MAX_LOOKUP_COMPONENTS - 2 * 2003;
  t.equal(resolve(root, back(within), options())?.inode?.kind, 'dir', `${MAX_LOOKUP_COMPONENTS} components resolve`);
  const over = options();
  t.throws(() => resolve(root, back(within + 1), over), { code: 'LAYER' }, 'one more is refused');
  t.equal(over.problems[0]?.kind, 'budget');
  t.equal(over.problems.length, 1);
});

t.test('a content is released once, when its last name leaves the tree', async (t) => {
  const root = makeRoot(time);
  const sink = new MemorySink();
  const file = (content: FileInode['content']): FileInode => ({ kind: 'file', ...toolMeta(0o644, time), content });
  const shared = file(await sink.writeBuffer(Buffer.from('S')));
  const single = file(await sink.writeBuffer(Buffer.from('1')));
  const dir = makeDir(toolMeta(0o755, time));
  root.children.set('d', dir);
  dir.children.set('a', shared);
  dir.children.set('single', single);
  root.children.set('b', shared);
  const refs = ContentRefs.ofTree(root);
  root.children.delete('d');
  refs.dropSubtree(dir, sink);
  t.same(sink.released, [single.content], 'the shared content still has a name');
  refs.link(shared);
  refs.dropSubtree(shared, sink);
  t.equal(sink.released.length, 1, 'a counted new name keeps it too');
  refs.dropSubtree(shared, sink);
  t.same(sink.released, [single.content, shared.content]);
});

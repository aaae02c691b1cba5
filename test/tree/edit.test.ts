import t from 'tap';
import { makeDir, makeRoot, toolMeta } from '../../src/tree/tree.js';
import type { DirInode, FileContent, FileInode } from '../../src/tree/tree.js';
import { TreeEditor, lookup, resolvePath } from '../../src/tree/edit.js';
import { MemorySink } from '../helpers/memory-sink.js';

const time = { sec: 1_700_000_000, nsec: 0 };

/** A usrmerge-style tree: /bin -> usr/bin, /sbin -> /usr/sbin, /usr/bin/busybox, /usr/bin/sh -> busybox. */
function usrmerge(): DirInode {
  const root = makeRoot(time);
  const usr = makeDir(toolMeta(0o755, time));
  const bin = makeDir(toolMeta(0o755, time));
  const sbin = makeDir(toolMeta(0o755, time));
  root.children.set('usr', usr);
  usr.children.set('bin', bin);
  usr.children.set('sbin', sbin);
  root.children.set('bin', { kind: 'symlink', ...toolMeta(0o777, time), target: 'usr/bin' });
  root.children.set('sbin', { kind: 'symlink', ...toolMeta(0o777, time), target: '/usr/sbin' });
  bin.children.set('busybox', { kind: 'file', ...toolMeta(0o755, time), content: { size: 3 } });
  bin.children.set('sh', { kind: 'symlink', ...toolMeta(0o777, time), target: 'busybox' });
  bin.children.set('up', { kind: 'symlink', ...toolMeta(0o777, time), target: '../../../../usr/bin/busybox' });
  bin.children.set('loop', { kind: 'symlink', ...toolMeta(0o777, time), target: 'loop' });
  return root;
}

t.test('resolvePath follows symlinks inside the root', async (t) => {
  const root = usrmerge();
  const busybox = (root.children.get('usr') as DirInode).children.get('bin') as DirInode;
  t.equal(resolvePath(root, '/bin/sh')?.realPath, '/usr/bin/busybox');
  t.equal(lookup(root, '/bin/sh'), busybox.children.get('busybox'));
  t.equal(resolvePath(root, '/bin/up')?.realPath, '/usr/bin/busybox', '.. never climbs above the root');
  t.equal(resolvePath(root, '/sbin/init')?.realPath, '/usr/sbin/init', 'absolute symlink target restarts at the root');
  t.equal(resolvePath(root, '/sbin/init')?.inode, undefined);
  const noFollow = resolvePath(root, '/bin/sh', false);
  t.equal(noFollow?.inode?.kind, 'symlink', 'the last link is kept when asked');
  t.equal(resolvePath(root, '/bin/busybox/x'), undefined, 'a file in the middle of a path');
  t.equal(resolvePath(root, '/nope/x'), undefined);
  t.throws(() => resolvePath(root, '/bin/loop'), { code: 'ROOTFS' });
  t.equal(resolvePath(root, '/')?.inode, root);
});

t.test('ensureDir, putFile and putSymlink write through symlinked parents', async (t) => {
  const root = usrmerge();
  const sink = new MemorySink();
  const edit = new TreeEditor(root, sink, time);
  await edit.putFile('/sbin/init', '#!/bin/sh\n', 0o755);
  const sbin = (root.children.get('usr') as DirInode).children.get('sbin') as DirInode;
  const init = sbin.children.get('init') as FileInode;
  t.equal(init.kind, 'file');
  t.equal(init.mode, 0o755);
  t.equal(init.uid, 0);
  t.same(init.mtime, time);
  t.equal(sink.text(init.content), '#!/bin/sh\n');
  t.equal(root.children.get('sbin')?.kind, 'symlink', '/sbin stays a symlink');

  edit.putSymlink('/sbin/init', '/usr/bin/busybox');
  t.equal((sbin.children.get('init') as { target: string }).target, '/usr/bin/busybox', 'a file is replaced by a symlink');

  const tmp = edit.ensureDir('/var/tmp/deep', 0o1777);
  t.equal(tmp.mode, 0o1777);
  t.equal((lookup(root, '/var') as DirInode).mode, 0o755, 'parents are 0755');
  const again = edit.ensureDir('/var/tmp/deep', 0o700);
  t.equal(again, tmp);
  t.equal(again.mode, 0o1777, 'an existing directory keeps its mode');
  edit.ensureDir('/var/tmp/deep', 0o700, true);
  t.equal(tmp.mode, 0o700, 'unless forced');

  t.throws(() => edit.ensureDir('/bin/busybox/x', 0o755), { code: 'ROOTFS', message: /not a directory/ });
  await t.rejects(edit.putFile('/usr', 'x', 0o644), { code: 'ROOTFS' }, 'a directory is never replaced');
});

t.test('replacing a file releases its content unless another name holds it', async (t) => {
  const root = makeRoot(time);
  const released: FileContent[] = [];
  const sink = new (class extends MemorySink {
    override release(content: FileContent): void {
      released.push(content);
    }
  })();
  const shared: FileInode = { kind: 'file', ...toolMeta(0o644, time), content: { size: 1 } };
  const single: FileInode = { kind: 'file', ...toolMeta(0o644, time), content: { size: 2 } };
  const etc = makeDir(toolMeta(0o755, time));
  root.children.set('etc', etc);
  etc.children.set('a', shared);
  etc.children.set('b', shared);
  etc.children.set('c', single);
  const edit = new TreeEditor(root, sink, time);
  await edit.putFile('/etc/a', 'new', 0o644);
  t.same(released, [], 'hard-linked content is kept');
  await edit.putFile('/etc/c', 'new', 0o644);
  t.same(released, [single.content]);
  edit.putSymlink('/etc/b', 'a');
  t.same(released, [single.content, shared.content], 'released when its last name goes, once');
});

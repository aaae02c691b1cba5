/**
 * Tar members built in memory, as `readTar` would yield them, and lookups in the
 * resulting tree, for tests of layer application.
 */
import type { TarEntry, TarMember } from '../../src/tar/entry.js';
import type { DirInode, Inode } from '../../src/tree/tree.js';

const TIME = { sec: 1_700_000_000, nsec: 123_456_789 };

export function entry(path: string, type: TarEntry['type'], fields: Partial<TarEntry> = {}): TarEntry {
  return {
    path,
    type,
    mode: type === 'dir' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    uname: 'root',
    gname: 'root',
    size: 0,
    mtime: TIME,
    linkname: '',
    devMajor: 0,
    devMinor: 0,
    xattrs: new Map(),
    ...fields,
  };
}

async function* once(data: Buffer): AsyncIterable<Buffer> {
  if (data.length > 0) yield data;
}

export function member(e: TarEntry, data: Buffer = Buffer.alloc(0)): TarMember {
  return { entry: e, body: once(data) };
}

export function file(path: string, data: string | Buffer, fields: Partial<TarEntry> = {}): TarMember {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return member(entry(path, 'file', { size: bytes.length, ...fields }), bytes);
}

export function dir(path: string, fields: Partial<TarEntry> = {}): TarMember {
  return member(entry(path, 'dir', fields));
}

export function symlink(path: string, target: string, fields: Partial<TarEntry> = {}): TarMember {
  return member(entry(path, 'symlink', { linkname: target, mode: 0o777, ...fields }));
}

export function hardlink(path: string, target: string): TarMember {
  // Metadata that must NOT be applied (rule 6): a link entry carries none of its own.
  return member(entry(path, 'hardlink', { linkname: target, mode: 0o600, uid: 4242, gid: 4242 }));
}

export async function* layer(...members: TarMember[]): AsyncGenerator<TarMember> {
  yield* members;
}

/** The inode at a slash-separated path, without following symlinks. */
export function lookup(root: DirInode, path: string): Inode | undefined {
  let current: Inode = root;
  for (const name of path.split('/')) {
    if (current.kind !== 'dir') return undefined;
    const next: Inode | undefined = current.children.get(name);
    if (next === undefined) return undefined;
    current = next;
  }
  return current;
}

/** Every path in the tree, sorted, directories with a trailing slash. */
export function listing(root: DirInode, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of [...root.children.keys()].sort()) {
    const inode = root.children.get(name)!;
    const path = `${prefix}${name}`;
    out.push(inode.kind === 'dir' ? `${path}/` : path);
    if (inode.kind === 'dir') out.push(...listing(inode, `${path}/`));
  }
  return out;
}

/** How many names in the tree hold `target` (the link count the ext4 writer computes). */
export function namesOf(root: DirInode, target: Inode): number {
  let count = 0;
  const pending: DirInode[] = [root];
  while (pending.length > 0) {
    for (const child of pending.pop()!.children.values()) {
      if (child === target) count++;
      if (child.kind === 'dir') pending.push(child);
    }
  }
  return count;
}

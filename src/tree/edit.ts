/**
 * Looking up and editing paths in the in-memory tree (layers/tree.ts) the way the guest
 * kernel will see them: symlinks are followed INSIDE the root (an absolute target starts
 * again at the tree's root, `..` never climbs above it), so `/sbin/init` lands in
 * `usr/sbin` on usrmerge images and `/bin/sh` reaches busybox on Alpine.
 *
 * Paths here are absolute, `/`-separated byte strings (see tree.ts).
 */
import { InfraError, printable } from '../errors.js';
import { makeDir, toolMeta, walk } from './tree.js';
import type { DataSink, DirInode, FileInode, Inode, SymlinkInode, Timestamp } from './tree.js';

/** Linux gives up after 40 symlinks in one lookup (MAXSYMLINKS); so do we. */
const MAX_SYMLINK_HOPS = 40;

export interface Resolved {
  /** The directory that holds (or would hold) the last component. */
  parent: DirInode;
  /** The last component's name in `parent`. */
  name: string;
  /** What is there, or undefined when nothing is. */
  inode: Inode | undefined;
  /** The path after following symlinks, e.g. `/usr/sbin/init` for `/sbin/init`. */
  realPath: string;
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Resolves `path`. Every symlink on the way is followed; the last one only when
 * `followLast`. Returns undefined when a directory on the way is missing or is not a
 * directory (the path cannot exist).
 */
export function resolvePath(root: DirInode, path: string, followLast = true): Resolved | undefined {
  let pending = components(path);
  const dirs: DirInode[] = [root];
  const names: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const [name, ...rest] = pending as [string, ...string[]];
    pending = rest;
    if (name === '..') {
      if (dirs.length > 1) {
        dirs.pop();
        names.pop();
      }
      continue;
    }
    const here = dirs[dirs.length - 1]!;
    const child = here.children.get(name);
    const last = pending.length === 0;
    if (child?.kind === 'symlink' && (!last || followLast)) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new InfraError('ROOTFS', `Too many levels of symbolic links resolving ${printable(path)} in the image.`);
      }
      if (child.target.startsWith('/')) {
        dirs.length = 1;
        names.length = 0;
      }
      pending = [...components(child.target), ...pending];
      continue;
    }
    if (last) return { parent: here, name, inode: child, realPath: realOf([...names, name]) };
    if (child?.kind !== 'dir') return undefined;
    dirs.push(child);
    names.push(name);
  }
  // The path named a directory itself (`/`, or a symlink to one ending in `..`).
  const dir = dirs[dirs.length - 1]!;
  return { parent: dirs[dirs.length - 2] ?? dir, name: names[names.length - 1] ?? '', inode: dir, realPath: realOf(names) };
}

function realOf(names: string[]): string {
  return `/${names.join('/')}`;
}

/** What `path` resolves to (following every symlink), or undefined. */
export function lookup(root: DirInode, path: string): Inode | undefined {
  return resolvePath(root, path)?.inode;
}

/** True when `path` resolves to a regular file (through symlinks). */
export function isFile(root: DirInode, path: string): boolean {
  return lookup(root, path)?.kind === 'file';
}

/** The first of `paths` that resolves to a regular file, as given (not resolved). */
export function firstFile(root: DirInode, paths: readonly string[]): string | undefined {
  return paths.find((p) => isFile(root, p));
}

/**
 * Makes `path` a directory, creating missing parents (0755 root, at `time`), following
 * symlinks on the way. An existing directory is kept as it is, except that `mode` is
 * applied when `forceMode` (e.g. /tmp must be 1777 whatever the image said).
 */
export function ensureDir(root: DirInode, path: string, mode: number, time: Timestamp, forceMode = false): DirInode {
  const parts = components(path);
  let dir = root;
  for (let i = 0; i < parts.length; i++) {
    const prefix = `/${parts.slice(0, i + 1).join('/')}`;
    const at = resolvePath(root, prefix);
    if (at === undefined) throw notADirectory(prefix);
    const last = i === parts.length - 1;
    if (at.inode === undefined) {
      const created = makeDir(toolMeta(last ? mode : 0o755, time));
      at.parent.children.set(at.name, created);
      dir = created;
    } else if (at.inode.kind === 'dir') {
      dir = at.inode;
      if (last && forceMode) dir.mode = mode;
    } else {
      throw notADirectory(prefix);
    }
  }
  return dir;
}

function notADirectory(path: string): InfraError {
  return new InfraError('ROOTFS', `${printable(path)} in the image is not a directory, but the boot setup needs one there.`);
}

/** Where a new entry for `path` goes: its parent directory (created if missing) and name. */
function placeFor(root: DirInode, path: string, time: Timestamp): { parent: DirInode; name: string } {
  const parts = components(path);
  const name = parts.pop();
  if (name === undefined || name === '..') throw new InfraError('ROOTFS', `Cannot create ${printable(path)}: not a file path.`);
  const parent = ensureDir(root, `/${parts.join('/')}`, 0o755, time);
  return { parent, name };
}

/** Removes what is at `parent/name` so something else can go there; directories are refused. */
function clearSlot(root: DirInode, parent: DirInode, name: string, path: string, sink: DataSink): void {
  const old = parent.children.get(name);
  if (old === undefined) return;
  if (old.kind === 'dir') {
    throw new InfraError('ROOTFS', `${printable(path)} in the image is a directory; cannot replace it with a file.`);
  }
  parent.children.delete(name);
  // A hard-linked file keeps its content under its other names.
  if (old.kind === 'file' && !isReferenced(root, old)) sink.release(old.content);
}

function isReferenced(root: DirInode, inode: Inode): boolean {
  let found = false;
  walk(root, (_path, other) => {
    if (other === inode) found = true;
  });
  return found;
}

/** Writes a regular file at `path` (replacing a file or symlink there), root-owned. */
export async function putFile(
  root: DirInode,
  sink: DataSink,
  path: string,
  data: Buffer | string,
  mode: number,
  time: Timestamp,
): Promise<FileInode> {
  const { parent, name } = placeFor(root, path, time);
  clearSlot(root, parent, name, path, sink);
  const content = await sink.writeBuffer(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  const file: FileInode = { kind: 'file', ...toolMeta(mode, time), content };
  parent.children.set(name, file);
  return file;
}

/** Makes `path` a symlink to `target` (replacing a file or symlink there). */
export function putSymlink(root: DirInode, sink: DataSink, path: string, target: string, time: Timestamp): SymlinkInode {
  const { parent, name } = placeFor(root, path, time);
  clearSlot(root, parent, name, path, sink);
  const link: SymlinkInode = { kind: 'symlink', ...toolMeta(0o777, time), target };
  parent.children.set(name, link);
  return link;
}

/**
 * The in-memory filesystem tree that layers are applied into and the ext4 writer reads.
 *
 * Names and link targets are "byte strings": JavaScript strings whose every char code is
 * one byte (latin1). Tar names are bytes, not text (non-UTF-8 names exist), and a byte
 * string keeps them exact while still working as a Map key. Convert with
 * `Buffer.from(s, 'latin1')`; print with `printable()` from errors.ts.
 *
 * Hard links are modelled as inodes: two directory entries that hold the same `Inode`
 * object are one inode with two names. Link counts are computed from the tree when it is
 * written, never stored.
 *
 * Memory grows with the number of entries only: file data lives in the image being
 * written (see `FileContent`), never here.
 */

export type InodeKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** Seconds since the epoch (may be negative or past 2038) and nanoseconds (0..999999999). */
export interface Timestamp {
  sec: number;
  nsec: number;
}

/**
 * Where a regular file's bytes went. Opaque to this layer: created and read by a
 * `DataSink` (the ext4 writer implements it). `size` is the file's apparent size.
 */
export interface FileContent {
  readonly size: number;
}

/** A map that refuses changes: shared, a change would reach every inode holding it. */
class SharedEmptyMap extends Map<string, Buffer> {
  override set(): never {
    throw new TypeError('NO_XATTRS is shared by inodes without xattrs: give the inode a map of its own');
  }
}

/** The xattrs of every inode that has none (read-only, so one map serves all). */
export const NO_XATTRS: ReadonlyMap<string, Buffer> = new SharedEmptyMap();

interface InodeBase {
  /** Permission bits including setuid (04000), setgid (02000) and sticky (01000). */
  mode: number;
  uid: number;
  gid: number;
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  /**
   * Full names (`user.foo`, `security.capability`) to raw bytes. Read-only: inodes without
   * xattrs share NO_XATTRS (an empty map each is ~170 bytes, 28 MB at 160k entries).
   */
  xattrs: ReadonlyMap<string, Buffer>;
}

export interface FileInode extends InodeBase {
  kind: 'file';
  content: FileContent;
}

export interface DirInode extends InodeBase {
  kind: 'dir';
  /** Byte-string name → inode. Never holds `.` or `..`. */
  children: Map<string, Inode>;
}

export interface SymlinkInode extends InodeBase {
  kind: 'symlink';
  /** Byte string, stored verbatim (absolute and dangling targets are normal). */
  target: string;
}

export interface DeviceInode extends InodeBase {
  kind: 'char' | 'block';
  major: number;
  minor: number;
}

export interface SpecialInode extends InodeBase {
  kind: 'fifo' | 'socket';
}

export type Inode = FileInode | DirInode | SymlinkInode | DeviceInode | SpecialInode;

/** Metadata shared by every kind, as a tar header or a tool-made file provides it. */
export type InodeMeta = InodeBase;

/**
 * Where file bytes are streamed to while layers are applied. `C` is the sink's own record
 * of where bytes went: it gets back exactly what it returned (the default serves code that
 * does not care which sink it has).
 */
export interface DataSink<C extends FileContent = FileContent> {
  /**
   * Consumes `body` (the stored bytes of a file) and returns where they went.
   * `sparse`, when given, maps the stored bytes onto a file of `size` bytes: each
   * region's bytes follow the previous region's in `body`; the rest is holes.
   */
  writeFile(body: AsyncIterable<Buffer>, size: number, sparse?: readonly SparseRegion[]): Promise<C>;
  /** Stores a small, tool-made file held in memory. */
  writeBuffer(data: Buffer): Promise<C>;
  /** The content is no longer referenced by the tree (replaced or whited out). */
  release(content: C): void;
}

export interface SparseRegion {
  offset: number;
  length: number;
}

export function makeDir(meta: InodeMeta): DirInode {
  return { kind: 'dir', ...meta, children: new Map() };
}

/** Metadata for something the tool itself creates: root-owned, at the given time. */
export function toolMeta(mode: number, time: Timestamp): InodeMeta {
  return { mode, uid: 0, gid: 0, atime: time, mtime: time, ctime: time, xattrs: NO_XATTRS };
}

/**
 * The time the tool stamps on what it invents: SOURCE_DATE_EPOCH (a malformed one means
 * the epoch), else `created` (the image's ISO 8601 creation time), else the epoch. Never
 * the clock, so rebuilding gives the same bytes.
 */
export function inventedTime(env: NodeJS.ProcessEnv = process.env, created?: string): Timestamp {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw !== undefined) return /^-?\d+$/.test(raw.trim()) ? { sec: Number(raw.trim()), nsec: 0 } : { sec: 0, nsec: 0 };
  const ms = created === undefined ? NaN : Date.parse(created);
  return Number.isFinite(ms) ? { sec: Math.floor(ms / 1000), nsec: 0 } : { sec: 0, nsec: 0 };
}

/** A fresh tree: the root directory, 0755 root:root. */
export function makeRoot(time: Timestamp): DirInode {
  return makeDir(toolMeta(0o755, time));
}

/**
 * Depth-first walk in sorted name order; calls `visit` once per directory entry, a
 * directory before its children. Iterative: symlinked parents make trees deeper than the
 * call stack.
 */
export function walk(dir: DirInode, visit: (path: string, inode: Inode, parent: DirInode) => void): void {
  // Entries still to visit, next one last.
  const pending: Array<{ path: string; inode: Inode; parent: DirInode }> = [];
  const pushChildren = (parent: DirInode, prefix: string): void => {
    const names = [...parent.children.keys()].sort(compareBytes);
    for (let i = names.length - 1; i >= 0; i--) {
      const name = names[i]!;
      pending.push({ path: prefix === '' ? name : `${prefix}/${name}`, inode: parent.children.get(name)!, parent });
    }
  };
  pushChildren(dir, '');
  while (pending.length > 0) {
    const { path, inode, parent } = pending.pop()!;
    visit(path, inode, parent);
    if (inode.kind === 'dir') pushChildren(inode, path);
  }
}

/** Byte-wise order for byte strings (char codes are bytes, so code-unit order is byte order). */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

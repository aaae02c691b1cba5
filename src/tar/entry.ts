/**
 * One archive member as the tar reader yields it, before layer rules are applied.
 * Paths are byte strings (see tree.ts), exactly as stored (not yet normalised).
 */
import type { SparseRegion, Timestamp } from '../tree/tree.js';

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  path: string;
  type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky (the header's mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Apparent size of a regular file (the real size for sparse files); 0 for others. */
  size: number;
  mtime: Timestamp;
  /** PAX or GNU atime/ctime when the archive has them. */
  atime?: Timestamp;
  ctime?: Timestamp;
  /** Hard link or symlink target, byte string. */
  linkname: string;
  devMajor: number;
  devMinor: number;
  /** Full xattr names → raw value bytes (PAX SCHILY.xattr.* and LIBARCHIVE.xattr.*). */
  xattrs: Map<string, Buffer>;
  /** For sparse files: where the stored bytes go; absent for ordinary files. */
  sparse?: SparseRegion[];
  /** PAX records the reader was asked to keep (`ReadTarOptions.keepRecords`), raw value bytes. */
  records?: Map<string, Buffer>;
}

/** An entry and its stored bytes. `body` must be consumed (or left) before the next entry. */
export interface TarMember {
  entry: TarEntry;
  body: AsyncIterable<Buffer>;
}

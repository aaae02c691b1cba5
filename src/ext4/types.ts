/**
 * What the writer's phases hand one another, in the order they run: data placement makes
 * `Ext4Content`; planning numbers the tree (`NumberedTree`) and measures it (`Needs`);
 * layout places the metadata (`Layout`); metadata writes it all and sums it up
 * (`Ext4Summary`). Imports nothing from the phases, so types flow one way.
 */
import { InfraError } from '../errors.js';
import type { FileContent, FileInode, Inode, Timestamp } from '../tree/tree.js';
import type { DirRecord } from './dir.js';
import { ExtentList } from './extents.js';
import type { Geometry } from './geometry.js';
import type { HtreePlan } from './htree.js';
import type { XattrLayout } from './xattr.js';

/** Where a regular file's blocks are in the image. */
export class Ext4Content implements FileContent {
  readonly extents = new ExtentList();
  released = false;
  constructor(readonly size: number) {}
}

/** A file's content as this writer stored it; a tree filled through another sink is refused. */
export function contentOf(inode: FileInode): Ext4Content {
  if (!(inode.content instanceof Ext4Content)) {
    throw new InfraError('INPUT', 'A file in the tree was not stored by the ext4 writer; fill the tree through the writer it is finished with.');
  }
  return inode.content;
}

/** The UUID, directory hash seed, time and label an image is stamped with. */
export interface Identity {
  uuid: Buffer;
  hashSeed: Buffer;
  time: Timestamp;
  label: string;
}

export interface NumberedInode {
  ino: number;
  inode: Inode;
  links: number;
  /** Directory records ('.', '..', children) for directories. */
  records?: DirRecord[];
  /** Minimum directory blocks (lost+found is pre-sized like mke2fs's). */
  minBlocks?: number;
}

export interface NumberedTree {
  /** Index i holds inode number FIRST + i (lost+found first), root separately. */
  root: NumberedInode;
  others: NumberedInode[];
  time: Timestamp;
}

/** Per-inode extra blocks and xattr placement, computed once and used by layout and writing. */
export interface InodePlan {
  dirBlocks: number;
  /** Directories that outgrow one block get an htree index. */
  htree?: HtreePlan;
  symlinkBlock: boolean;
  xattrs: XattrLayout;
  /** Extent tree blocks for file data (directories get theirs once placed). */
  treeBlocks: number;
}

export interface Needs {
  plans: Map<number, InodePlan>;
  /** Live file data blocks, including those that did not fit. */
  dataBlocks: number;
  /** Directory, symlink, xattr and extent-tree blocks. */
  metaBlocks: number;
  /** Highest inode number in use (reserved inodes included). */
  inodesUsed: number;
}

export interface InodePlacement {
  dirExtents?: ExtentList;
  symlinkBlock?: number;
  xattrBlock?: number;
  treeBlocks: number[];
}

export interface Layout {
  geometry: Geometry;
  inodesPerGroup: number;
  inodeTableBlocks: number;
  blockBitmaps: number[];
  inodeBitmaps: number[];
  inodeTables: number[];
  journal?: { extents: ExtentList; treeBlocks: number[] };
  placements: Map<number, InodePlacement>;
  needs: Needs;
}

export interface Ext4Summary {
  path: string;
  sizeBytes: number;
  blockCount: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
  usedBytes: number;
  uuid: string;
  journalBlocks: number;
  /** The image's chunked sha256 (src/io/digest.ts), computed from the writes. */
  chunkedSha256: string;
}

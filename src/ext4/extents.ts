/**
 * Extent trees (ifork.rst). Up to four extents fit in the inode's i_block; more need
 * leaf blocks of 340 extents, indexed from the inode (depth 1) or, past four leaves,
 * through index blocks (depth 2+).
 */
import {
  BLOCK_SIZE,
  EXT4_EXT_MAGIC,
  EXT_INIT_MAX_LEN,
  EXTENT_ENTRY_SIZE,
  EXTENT_HEADER,
  EXTENT_INDEX,
  EXTENT_LEAF,
  EXTENTS_IN_BLOCK,
  EXTENTS_IN_INODE,
  I_BLOCK_SIZE,
} from './format.js';

/** A run of blocks: file block `logical` maps to disk block `physical` for `length` blocks. */
export interface Extent {
  logical: number;
  physical: number;
  length: number;
}

/** Flat list of extents as (logical, physical, length) triples; appends merge runs. */
export class ExtentList {
  readonly runs: number[] = [];

  /** Appends a run, merging it into the previous extent when it continues it. */
  add(logical: number, physical: number, length = 1): void {
    const r = this.runs;
    let n = r.length;
    if (n > 0 && r[n - 3]! + r[n - 1]! === logical && r[n - 2]! + r[n - 1]! === physical) {
      const grow = Math.min(length, EXT_INIT_MAX_LEN - r[n - 1]!);
      r[n - 1]! += grow;
      logical += grow;
      physical += grow;
      length -= grow;
    }
    while (length > 0) {
      const take = Math.min(length, EXT_INIT_MAX_LEN);
      r.push(logical, physical, take);
      logical += take;
      physical += take;
      length -= take;
      n += 3;
    }
  }

  get count(): number {
    return this.runs.length / 3;
  }

  get blocks(): number {
    let total = 0;
    for (let i = 2; i < this.runs.length; i += 3) total += this.runs[i]!;
    return total;
  }

  *extents(): Generator<Extent> {
    for (let i = 0; i < this.runs.length; i += 3) {
      yield { logical: this.runs[i]!, physical: this.runs[i + 1]!, length: this.runs[i + 2]! };
    }
  }
}

/** How many tree blocks (leaves and index blocks) a file with `extentCount` extents needs. */
export function treeBlocksFor(extentCount: number): number {
  let total = 0;
  let entries = extentCount;
  while (entries > EXTENTS_IN_INODE) {
    const blocks = Math.ceil(entries / EXTENTS_IN_BLOCK);
    total += blocks;
    entries = blocks;
  }
  return total;
}

export interface BuiltTree {
  /** The 60 bytes for i_block. */
  root: Buffer;
  /** Tree blocks to write, paired with the disk blocks given to `build`. */
  blocks: Buffer[];
}

function writeHeader(buf: Buffer, entries: number, max: number, depth: number): void {
  buf.writeUInt16LE(EXT4_EXT_MAGIC, EXTENT_HEADER.eh_magic);
  buf.writeUInt16LE(entries, EXTENT_HEADER.eh_entries);
  buf.writeUInt16LE(max, EXTENT_HEADER.eh_max);
  buf.writeUInt16LE(depth, EXTENT_HEADER.eh_depth);
}

function writeLeaf(buf: Buffer, slot: number, e: Extent): void {
  const off = EXTENT_ENTRY_SIZE * (slot + 1);
  buf.writeUInt32LE(e.logical, off + EXTENT_LEAF.ee_block);
  buf.writeUInt16LE(e.length, off + EXTENT_LEAF.ee_len);
  buf.writeUInt16LE(Math.floor(e.physical / 2 ** 32), off + EXTENT_LEAF.ee_start_hi);
  buf.writeUInt32LE(e.physical >>> 0, off + EXTENT_LEAF.ee_start_lo);
}

function writeIndex(buf: Buffer, slot: number, logical: number, child: number): void {
  const off = EXTENT_ENTRY_SIZE * (slot + 1);
  buf.writeUInt32LE(logical, off + EXTENT_INDEX.ei_block);
  buf.writeUInt32LE(child >>> 0, off + EXTENT_INDEX.ei_leaf_lo);
  buf.writeUInt16LE(Math.floor(child / 2 ** 32), off + EXTENT_INDEX.ei_leaf_hi);
}

/**
 * Builds the tree for `list` using `treeBlocks` (exactly treeBlocksFor(count) disk block
 * numbers, leaves first, then each index level bottom-up).
 */
export function buildTree(list: ExtentList, treeBlocks: number[]): BuiltTree {
  const extents = [...list.extents()];
  const root = Buffer.alloc(I_BLOCK_SIZE);
  if (extents.length <= EXTENTS_IN_INODE) {
    writeHeader(root, extents.length, EXTENTS_IN_INODE, 0);
    extents.forEach((e, i) => writeLeaf(root, i, e));
    return { root, blocks: [] };
  }
  const blocks: Buffer[] = [];
  let next = 0;
  // Level 0: leaves. Each level yields (first logical, disk block) pairs for the level above.
  let level: Array<{ logical: number; block: number }> = [];
  for (let i = 0; i < extents.length; i += EXTENTS_IN_BLOCK) {
    const chunk = extents.slice(i, i + EXTENTS_IN_BLOCK);
    const buf = Buffer.alloc(BLOCK_SIZE);
    writeHeader(buf, chunk.length, EXTENTS_IN_BLOCK, 0);
    chunk.forEach((e, j) => writeLeaf(buf, j, e));
    const block = treeBlocks[next++]!;
    blocks.push(buf);
    level.push({ logical: chunk[0]!.logical, block });
  }
  let depth = 1;
  while (level.length > EXTENTS_IN_INODE) {
    const upper: typeof level = [];
    for (let i = 0; i < level.length; i += EXTENTS_IN_BLOCK) {
      const chunk = level.slice(i, i + EXTENTS_IN_BLOCK);
      const buf = Buffer.alloc(BLOCK_SIZE);
      writeHeader(buf, chunk.length, EXTENTS_IN_BLOCK, depth);
      chunk.forEach((c, j) => writeIndex(buf, j, c.logical, c.block));
      const block = treeBlocks[next++]!;
      blocks.push(buf);
      upper.push({ logical: chunk[0]!.logical, block });
    }
    level = upper;
    depth++;
  }
  writeHeader(root, level.length, EXTENTS_IN_INODE, depth);
  level.forEach((c, j) => writeIndex(root, j, c.logical, c.block));
  return { root, blocks };
}

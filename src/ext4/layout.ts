/**
 * Placing the metadata once the tree is final: how large the image must be, and where
 * directory blocks, extent trees, xattr blocks, the journal, bitmaps and inode tables go.
 */
import type { BlockAllocator } from './allocator.js';
import { ExtentList, treeBlocksFor } from './extents.js';
import { INO } from './format.js';
import {
  type Geometry,
  BLOCKS_PER_MIB,
  MAX_BLOCKS,
  geometryFor,
  inodeTableBlocks,
  inodesPerGroup,
  journalBlocks,
  scaledInodeCount,
} from './geometry.js';
import type { InodePlacement, Layout, Needs, NumberedTree } from './types.js';

/** Spare inodes beyond those used: a tenth, at least 64. */
export function inodeCountFor(blockCount: number, inodesUsed: number): number {
  const spare = Math.max(64, Math.ceil((inodesUsed - INO.FIRST) / 10));
  return Math.max(scaledInodeCount(blockCount), inodesUsed + spare);
}

interface InodeGeometry {
  perGroup: number;
  tableBlocks: number;
}

function inodeGeometry(geometry: Geometry, inodesUsed: number): InodeGeometry | undefined {
  const wanted = inodeCountFor(geometry.blockCount, inodesUsed);
  const perGroup = inodesPerGroup(wanted, geometry.groupCount);
  if (perGroup * geometry.groupCount < inodesUsed + 1 || perGroup * geometry.groupCount > MAX_BLOCKS) return undefined;
  return { perGroup, tableBlocks: inodeTableBlocks(perGroup) };
}

/** Blocks a filesystem of this geometry spends on itself, with room for placement waste. */
function overhead(geometry: Geometry, inodes: InodeGeometry): number {
  const zones = geometry.backupGroups.length;
  const journal = journalBlocks(geometry.blockCount);
  return (
    zones * (1 + geometry.gdtBlocks) +
    geometry.groupCount * (2 + inodes.tableBlocks) +
    journal +
    treeBlocksFor(Math.ceil(journal / 32768) + zones) +
    // an inode table never straddles a backup zone: at most one table's worth lost per zone
    zones * inodes.tableBlocks
  );
}

function fits(blockCount: number, needs: Needs): boolean {
  const geometry = geometryFor(blockCount);
  const inodes = inodeGeometry(geometry, needs.inodesUsed);
  return inodes !== undefined && overhead(geometry, inodes) + needs.dataBlocks + needs.metaBlocks <= blockCount;
}

/** The smallest size in MiB that holds the tree (a size that then succeeds). */
export function minimumMiB(needs: Needs): number {
  let low = Math.max(2, Math.ceil((needs.dataBlocks + needs.metaBlocks) / BLOCKS_PER_MIB));
  let high = low;
  while (!fits(high * BLOCKS_PER_MIB, needs)) {
    low = high + 1;
    high *= 2;
  }
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (fits(mid * BLOCKS_PER_MIB, needs)) high = mid;
    else low = mid + 1;
  }
  return high;
}

/** Allocates every metadata block in the final geometry; undefined when it does not fit. */
export function planLayout(
  tree: NumberedTree,
  needs: Needs,
  allocator: BlockAllocator,
  geometry: Geometry,
): Layout | undefined {
  const inodes = inodeGeometry(geometry, needs.inodesUsed);
  if (!inodes) return undefined;
  allocator.limit = geometry.blockCount;
  const placements = new Map<number, InodePlacement>();
  for (const n of [tree.root, ...tree.others]) {
    const plan = needs.plans.get(n.ino)!;
    const placement: InodePlacement = { treeBlocks: [] };
    if (plan.dirBlocks > 0) {
      placement.dirExtents = new ExtentList();
      let logical = 0;
      for (const [start, length] of allocator.freshRuns(plan.dirBlocks)) {
        placement.dirExtents.add(logical, start, length);
        logical += length;
      }
    }
    if (plan.symlinkBlock) placement.symlinkBlock = single(allocator);
    if (plan.xattrs.inBlock.length > 0) placement.xattrBlock = single(allocator);
    const extents = placement.dirExtents?.count ?? (n.inode.kind === 'file' ? -1 : 0);
    const treeCount = extents >= 0 ? treeBlocksFor(extents) : plan.treeBlocks;
    placement.treeBlocks = blocksOf(allocator.freshRuns(treeCount));
    placements.set(n.ino, placement);
  }
  const journal = placeJournal(allocator, journalBlocks(geometry.blockCount));
  const blockBitmaps: number[] = [];
  const inodeBitmaps: number[] = [];
  const inodeTables: number[] = [];
  for (let g = 0; g < geometry.groupCount; g++) blockBitmaps.push(single(allocator));
  for (let g = 0; g < geometry.groupCount; g++) inodeBitmaps.push(single(allocator));
  for (let g = 0; g < geometry.groupCount; g++) inodeTables.push(allocator.contiguous(inodes.tableBlocks));
  if (allocator.overflow > 0) return undefined;
  return {
    geometry,
    inodesPerGroup: inodes.perGroup,
    inodeTableBlocks: inodes.tableBlocks,
    blockBitmaps,
    inodeBitmaps,
    inodeTables,
    journal,
    placements,
    needs,
  };
}

function single(allocator: BlockAllocator): number {
  const runs = allocator.freshRuns(1);
  return runs.length > 0 ? runs[0]![0] : -1;
}

function blocksOf(runs: Array<[number, number]>): number[] {
  const out: number[] = [];
  for (const [start, length] of runs) for (let i = 0; i < length; i++) out.push(start + i);
  return out;
}

function placeJournal(allocator: BlockAllocator, blocks: number): Layout['journal'] {
  if (blocks === 0) return undefined;
  const extents = new ExtentList();
  let logical = 0;
  for (const [start, length] of allocator.freshRuns(blocks)) {
    extents.add(logical, start, length);
    logical += length;
  }
  return { extents, treeBlocks: blocksOf(allocator.freshRuns(treeBlocksFor(extents.count))) };
}


/**
 * Where the fixed structures of an ext4 image sit for a given size, and the sizing rules
 * mke2fs uses (inode ratio, journal size). With flex_bg, bitmaps and inode tables may live
 * anywhere, so the only fixed places are the superblock and group descriptor copies at
 * the start of group 0 and of the sparse_super backup groups (1 and powers of 3, 5, 7).
 */
import { BLOCK_SIZE, BLOCKS_PER_GROUP, DESCS_PER_BLOCK, INODE_SIZE, INODES_PER_BLOCK } from './format.js';

export const MIB = 1024 * 1024;
export const BLOCKS_PER_MIB = MIB / BLOCK_SIZE;
/** ext4 without the 64bit feature addresses 2^32 blocks. */
export const MAX_BLOCKS = 2 ** 32 - 1;

export interface Geometry {
  blockCount: number;
  groupCount: number;
  gdtBlocks: number;
  /** Groups holding a superblock + descriptor copy, ascending (group 0 first). */
  backupGroups: number[];
}

export function geometryFor(blockCount: number): Geometry {
  const groupCount = Math.ceil(blockCount / BLOCKS_PER_GROUP);
  return {
    blockCount,
    groupCount,
    gdtBlocks: Math.ceil(groupCount / DESCS_PER_BLOCK),
    backupGroups: backupGroups(groupCount),
  };
}

/** sparse_super: groups 0, 1 and the powers of 3, 5 and 7. */
export function backupGroups(groupCount: number): number[] {
  const groups = new Set<number>([0]);
  if (groupCount > 1) groups.add(1);
  for (const base of [3, 5, 7]) {
    for (let g = base; g < groupCount; g *= base) groups.add(g);
  }
  return [...groups].sort((a, b) => a - b);
}

/** Blocks each backup group reserves at its start: superblock + descriptor table. */
export function reservedRun(geometry: Geometry): number {
  return 1 + geometry.gdtBlocks;
}

/**
 * Inodes mke2fs would give a filesystem of this size (mke2fs.conf: inode_ratio 16384,
 * 4096 for "small" filesystems under 512 MiB).
 */
export function scaledInodeCount(blockCount: number): number {
  const bytes = blockCount * BLOCK_SIZE;
  const ratio = bytes < 512 * MIB ? 4096 : 16384;
  return Math.floor(bytes / ratio);
}

/**
 * Inodes per group for at least `wanted` inodes: whole inode-table blocks, at most one
 * bitmap block's worth, as mke2fs rounds them.
 */
export function inodesPerGroup(wanted: number, groupCount: number): number {
  let perGroup = Math.ceil(wanted / groupCount);
  perGroup = Math.ceil(perGroup / INODES_PER_BLOCK) * INODES_PER_BLOCK;
  return Math.min(Math.max(perGroup, INODES_PER_BLOCK), BLOCK_SIZE * 8);
}

export function inodeTableBlocks(perGroup: number): number {
  return (perGroup * INODE_SIZE) / BLOCK_SIZE;
}

/** Journal blocks, as e2fsprogs' ext2fs_default_journal_size picks them (0 = none). */
export function journalBlocks(blockCount: number): number {
  if (blockCount < 2048) return 0;
  if (blockCount < 32768) return 1024;
  if (blockCount < 256 * 1024) return 4096;
  if (blockCount < 512 * 1024) return 8192;
  if (blockCount < 4096 * 1024) return 16384;
  if (blockCount < 8192 * 1024) return 32768;
  if (blockCount < 16384 * 1024) return 65536;
  if (blockCount < 32768 * 1024) return 131072;
  return 262144;
}

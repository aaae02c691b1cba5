/**
 * Reads the counts and identity of an ext2/3/4 filesystem from its superblock, without
 * mounting. Independent of src/ext4 (our writer) on purpose: it checks what the writer
 * wrote. Offsets and names from the kernel's `struct ext4_super_block` (fs/ext4/ext4.h);
 * feature names as e2fsprogs prints them (lib/e2p/feature.c).
 */
import { open } from 'node:fs/promises';
import { InfraError } from '../errors.js';

/** The superblock starts 1024 bytes into the device and is 1024 bytes long. */
const SUPERBLOCK_OFFSET = 1024;
const SUPERBLOCK_SIZE = 1024;
const EXT4_SUPER_MAGIC = 0xef53;
const EXT4_FEATURE_INCOMPAT_64BIT = 0x80;

/** Byte offsets inside struct ext4_super_block. */
const S = {
  s_inodes_count: 0x00,
  s_blocks_count_lo: 0x04,
  s_r_blocks_count_lo: 0x08,
  s_free_blocks_count_lo: 0x0c,
  s_free_inodes_count: 0x10,
  s_log_block_size: 0x18,
  s_mtime: 0x2c,
  s_wtime: 0x30,
  s_magic: 0x38,
  s_state: 0x3a,
  s_inode_size: 0x58,
  s_feature_compat: 0x5c,
  s_feature_incompat: 0x60,
  s_feature_ro_compat: 0x64,
  s_uuid: 0x68,
  s_volume_name: 0x78,
  s_mkfs_time: 0x108,
  s_blocks_count_hi: 0x150,
  s_r_blocks_count_hi: 0x154,
  s_free_blocks_count_hi: 0x158,
} as const;

const COMPAT: Record<number, string> = {
  0x1: 'dir_prealloc',
  0x2: 'imagic_inodes',
  0x4: 'has_journal',
  0x8: 'ext_attr',
  0x10: 'resize_inode',
  0x20: 'dir_index',
  0x200: 'sparse_super2',
  0x400: 'fast_commit',
  0x800: 'stable_inodes',
  0x1000: 'orphan_file',
};
const INCOMPAT: Record<number, string> = {
  0x1: 'compression',
  0x2: 'filetype',
  0x4: 'needs_recovery',
  0x8: 'journal_dev',
  0x10: 'meta_bg',
  0x40: 'extent',
  0x80: '64bit',
  0x100: 'mmp',
  0x200: 'flex_bg',
  0x400: 'ea_inode',
  0x1000: 'dirdata',
  0x2000: 'metadata_csum_seed',
  0x4000: 'large_dir',
  0x8000: 'inline_data',
  0x10000: 'encrypt',
  0x20000: 'casefold',
};
const RO_COMPAT: Record<number, string> = {
  0x1: 'sparse_super',
  0x2: 'large_file',
  0x8: 'huge_file',
  0x10: 'uninit_bg',
  0x20: 'dir_nlink',
  0x40: 'extra_isize',
  0x100: 'quota',
  0x200: 'bigalloc',
  0x400: 'metadata_csum',
  0x1000: 'read-only',
  0x2000: 'project',
  0x8000: 'verity',
  0x10000: 'orphan_present',
};

export interface SuperblockFacts {
  blockSize: number;
  blocksCount: number;
  freeBlocks: number;
  reservedBlocks: number;
  inodesCount: number;
  freeInodes: number;
  inodeSize: number;
  /** Feature names in e2fsprogs' order: compat, incompat, ro_compat. */
  features: string[];
  uuid: string;
  volumeName: string;
  /** `clean` when s_state has EXT2_VALID_FS and not EXT2_ERROR_FS. */
  state: 'clean' | 'not clean' | 'with errors';
  /** ISO 8601, or undefined when zero. */
  createdAt?: string;
  lastWrittenAt?: string;
}

/** Reads and decodes the superblock of the filesystem image at `path`. */
export async function readSuperblock(path: string): Promise<SuperblockFacts> {
  const buf = Buffer.alloc(SUPERBLOCK_SIZE);
  let bytesRead: number;
  try {
    const fh = await open(path, 'r');
    try {
      ({ bytesRead } = await fh.read(buf, 0, SUPERBLOCK_SIZE, SUPERBLOCK_OFFSET));
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'DISK';
    throw new InfraError(code, `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (bytesRead < SUPERBLOCK_SIZE || buf.readUInt16LE(S.s_magic) !== EXT4_SUPER_MAGIC) {
    throw new InfraError('INPUT', `${path} is not an ext2/3/4 filesystem image (no ext superblock magic at offset 1080).`);
  }
  return decodeSuperblock(buf);
}

export function decodeSuperblock(sb: Buffer): SuperblockFacts {
  const is64 = (sb.readUInt32LE(S.s_feature_incompat) & EXT4_FEATURE_INCOMPAT_64BIT) !== 0;
  const wide = (lo: number, hi: number) => sb.readUInt32LE(lo) + (is64 ? sb.readUInt32LE(hi) * 2 ** 32 : 0);
  const state = sb.readUInt16LE(S.s_state);
  return {
    blockSize: 1024 * 2 ** sb.readUInt32LE(S.s_log_block_size),
    blocksCount: wide(S.s_blocks_count_lo, S.s_blocks_count_hi),
    freeBlocks: wide(S.s_free_blocks_count_lo, S.s_free_blocks_count_hi),
    reservedBlocks: wide(S.s_r_blocks_count_lo, S.s_r_blocks_count_hi),
    inodesCount: sb.readUInt32LE(S.s_inodes_count),
    freeInodes: sb.readUInt32LE(S.s_free_inodes_count),
    inodeSize: sb.readUInt16LE(S.s_inode_size),
    features: [
      ...featureNames(sb.readUInt32LE(S.s_feature_compat), COMPAT, 'FEATURE_C'),
      ...featureNames(sb.readUInt32LE(S.s_feature_incompat), INCOMPAT, 'FEATURE_I'),
      ...featureNames(sb.readUInt32LE(S.s_feature_ro_compat), RO_COMPAT, 'FEATURE_R'),
    ],
    uuid: formatUuid(sb.subarray(S.s_uuid, S.s_uuid + 16)),
    volumeName: cString(sb.subarray(S.s_volume_name, S.s_volume_name + 16)),
    // EXT2_VALID_FS = 1, EXT2_ERROR_FS = 2 (s_state)
    state: state & 2 ? 'with errors' : state & 1 ? 'clean' : 'not clean',
    createdAt: isoTime(sb.readUInt32LE(S.s_mkfs_time)),
    lastWrittenAt: isoTime(sb.readUInt32LE(S.s_wtime)),
  };
}

/** Names of the set bits; unknown bits as e2fsprogs prints them (`FEATURE_I17`). */
function featureNames(mask: number, names: Record<number, string>, unknownPrefix: string): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const flag = 2 ** bit;
    if ((mask & flag) !== 0) out.push(names[flag] ?? `${unknownPrefix}${bit}`);
  }
  return out;
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

function isoTime(seconds: number): string | undefined {
  return seconds === 0 ? undefined : new Date(seconds * 1000).toISOString();
}

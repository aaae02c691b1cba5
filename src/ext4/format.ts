/**
 * ext4 on-disk structures and constants, declared once, with the names of the kernel's
 * Documentation/filesystems/ext4/ (super.rst, group_descr.rst, inodes.rst, ifork.rst,
 * directory.rst, attributes.rst, journal.rst) and fs/ext4/ext4.h. Offsets are in bytes
 * from the start of each structure. All ext4 fields are little-endian; jbd2's are
 * big-endian.
 */
import type { InodeKind } from '../tree/tree.js';

export const BLOCK_SIZE = 4096;
export const LOG_BLOCK_SIZE = 2; // s_log_block_size: block size = 1024 << 2
export const BLOCKS_PER_GROUP = BLOCK_SIZE * 8; // one block bitmap block
export const INODE_SIZE = 256;
export const INODES_PER_BLOCK = BLOCK_SIZE / INODE_SIZE;
export const GOOD_OLD_INODE_SIZE = 128;
export const EXTRA_ISIZE = 32; // i_extra_isize, s_min_extra_isize, s_want_extra_isize
export const DESC_SIZE = 32; // no 64bit feature: 32-byte group descriptors
export const DESCS_PER_BLOCK = BLOCK_SIZE / DESC_SIZE;
export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const LOG_GROUPS_PER_FLEX = 4;

/** Reserved inode numbers (ext4.h EXT4_*_INO). */
export const INO = {
  BAD: 1,
  ROOT: 2,
  RESIZE: 7,
  JOURNAL: 8,
  FIRST: 11, // s_first_ino: first non-reserved inode; mke2fs puts lost+found here
} as const;

/** Superblock field encodings: little-endian integers, or raw bytes of the given length. */
type FieldKind = 'u8' | 'le16' | 'le32' | number;

/**
 * Superblock (super.rst, struct ext4_super_block): each field's offset and encoding, the
 * one declaration both `encodeSuperblock` and `decodeSuperblock` follow. Fields not
 * listed stay zero.
 */
const SUPERBLOCK = {
  s_inodes_count: [0x0, 'le32'],
  s_blocks_count_lo: [0x4, 'le32'],
  s_r_blocks_count_lo: [0x8, 'le32'],
  s_free_blocks_count_lo: [0xc, 'le32'],
  s_free_inodes_count: [0x10, 'le32'],
  s_first_data_block: [0x14, 'le32'],
  s_log_block_size: [0x18, 'le32'],
  s_log_cluster_size: [0x1c, 'le32'],
  s_blocks_per_group: [0x20, 'le32'],
  s_clusters_per_group: [0x24, 'le32'],
  s_inodes_per_group: [0x28, 'le32'],
  s_mtime: [0x2c, 'le32'],
  s_wtime: [0x30, 'le32'],
  s_mnt_count: [0x34, 'le16'],
  s_max_mnt_count: [0x36, 'le16'],
  s_magic: [0x38, 'le16'],
  s_state: [0x3a, 'le16'],
  s_errors: [0x3c, 'le16'],
  s_lastcheck: [0x40, 'le32'],
  s_creator_os: [0x48, 'le32'],
  s_rev_level: [0x4c, 'le32'],
  s_first_ino: [0x54, 'le32'],
  s_inode_size: [0x58, 'le16'],
  s_block_group_nr: [0x5a, 'le16'],
  s_feature_compat: [0x5c, 'le32'],
  s_feature_incompat: [0x60, 'le32'],
  s_feature_ro_compat: [0x64, 'le32'],
  s_uuid: [0x68, 16],
  s_volume_name: [0x78, 16], // char[16], not necessarily NUL-terminated
  s_journal_inum: [0xe0, 'le32'],
  s_hash_seed: [0xec, 16], // le32[4]
  s_def_hash_version: [0xfc, 'u8'],
  s_jnl_backup_type: [0xfd, 'u8'],
  s_default_mount_opts: [0x100, 'le32'],
  s_mkfs_time: [0x108, 'le32'],
  s_jnl_blocks: [0x10c, 17 * 4], // le32[17]: the journal inode's i_block, i_size_high, i_size
  s_blocks_count_hi: [0x150, 'le32'], // 64bit only, as are the next two
  s_r_blocks_count_hi: [0x154, 'le32'],
  s_free_blocks_count_hi: [0x158, 'le32'],
  s_min_extra_isize: [0x15c, 'le16'],
  s_want_extra_isize: [0x15e, 'le16'],
  s_flags: [0x160, 'le32'],
  s_log_groups_per_flex: [0x174, 'u8'],
  // s_wtime_hi and the other high time bytes stay 0: times the tool invents fit 32 bits.
} as const satisfies Record<string, readonly [offset: number, kind: FieldKind]>;

export type Superblock = {
  -readonly [K in keyof typeof SUPERBLOCK]: (typeof SUPERBLOCK)[K][1] extends number ? Buffer : number;
};

/** The superblock's bytes; fields left out are zero, as mke2fs's zeroed buffer leaves them. */
export function encodeSuperblock(fields: Partial<Superblock>): Buffer {
  const sb = Buffer.alloc(SUPERBLOCK_SIZE);
  for (const [name, [offset, kind]] of Object.entries(SUPERBLOCK)) {
    const value = fields[name as keyof Superblock];
    if (value === undefined) continue;
    if (typeof value === 'number') writeField(sb, offset, kind as Exclude<FieldKind, number>, value);
    else value.copy(sb, offset, 0, Math.min(value.length, kind as number));
  }
  return sb;
}

/** Every declared field of a superblock's 1024 bytes (byte fields are copies, not views). */
export function decodeSuperblock(sb: Buffer): Superblock {
  const fields: Record<string, number | Buffer> = {};
  for (const [name, [offset, kind]] of Object.entries(SUPERBLOCK)) {
    fields[name] = typeof kind === 'number' ? Buffer.from(sb.subarray(offset, offset + kind)) : readField(sb, offset, kind);
  }
  return fields as Superblock;
}

function writeField(sb: Buffer, offset: number, kind: Exclude<FieldKind, number>, value: number): void {
  if (kind === 'u8') sb.writeUInt8(value, offset);
  else if (kind === 'le16') sb.writeUInt16LE(value, offset);
  else sb.writeUInt32LE(value, offset);
}

function readField(sb: Buffer, offset: number, kind: Exclude<FieldKind, number>): number {
  if (kind === 'u8') return sb.readUInt8(offset);
  if (kind === 'le16') return sb.readUInt16LE(offset);
  return sb.readUInt32LE(offset);
}

/** A UUID's 16 bytes (s_uuid) as RFC 4122 text. */
export function formatUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const EXT4_SUPER_MAGIC = 0xef53;
export const EXT4_VALID_FS = 0x0001; // s_state: cleanly unmounted
export const EXT4_ERROR_FS = 0x0002; // s_state: errors detected
export const EXT4_ERRORS_CONTINUE = 1;
export const EXT4_OS_LINUX = 0;
export const EXT4_DYNAMIC_REV = 1;
export const EXT3_JNL_BACKUP_BLOCKS = 1; // s_jnl_backup_type
export const DX_HASH_HALF_MD4 = 1; // s_def_hash_version
export const EXT2_FLAGS_UNSIGNED_HASH = 0x0002; // s_flags
export const EXT4_DEFM_XATTR_USER = 0x0004; // s_default_mount_opts, as mke2fs sets them
export const EXT4_DEFM_ACL = 0x0008;

/** Feature flags (super.rst), named as e2fsprogs prints them (lib/e2p/feature.c). */
export const COMPAT = {
  dir_prealloc: 0x1,
  imagic_inodes: 0x2,
  has_journal: 0x4,
  ext_attr: 0x8,
  resize_inode: 0x10,
  dir_index: 0x20,
  sparse_super2: 0x200,
  fast_commit: 0x400,
  stable_inodes: 0x800,
  orphan_file: 0x1000,
} as const;
export const INCOMPAT = {
  compression: 0x1,
  filetype: 0x2,
  needs_recovery: 0x4,
  journal_dev: 0x8,
  meta_bg: 0x10,
  extent: 0x40,
  '64bit': 0x80,
  mmp: 0x100,
  flex_bg: 0x200,
  ea_inode: 0x400,
  dirdata: 0x1000,
  metadata_csum_seed: 0x2000,
  large_dir: 0x4000,
  inline_data: 0x8000,
  encrypt: 0x10000,
  casefold: 0x20000,
} as const;
export const RO_COMPAT = {
  sparse_super: 0x1,
  large_file: 0x2,
  huge_file: 0x8,
  uninit_bg: 0x10,
  dir_nlink: 0x20,
  extra_isize: 0x40,
  quota: 0x100,
  bigalloc: 0x200,
  metadata_csum: 0x400,
  'read-only': 0x1000,
  project: 0x2000,
  verity: 0x8000,
  orphan_present: 0x10000,
} as const;

/** Names of the features a superblock sets, in e2fsprogs' order: compat, incompat, ro_compat. */
export function featureNames(sb: Superblock): string[] {
  return [
    ...flagNames(sb.s_feature_compat, COMPAT, 'FEATURE_C'),
    ...flagNames(sb.s_feature_incompat, INCOMPAT, 'FEATURE_I'),
    ...flagNames(sb.s_feature_ro_compat, RO_COMPAT, 'FEATURE_R'),
  ];
}

/** Names of the set bits; unknown bits as e2fsprogs prints them (`FEATURE_I17`). */
function flagNames(mask: number, flags: Record<string, number>, unknownPrefix: string): string[] {
  const names = new Map(Object.entries(flags).map(([name, flag]) => [flag, name]));
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const flag = 2 ** bit;
    if ((mask & flag) !== 0) out.push(names.get(flag) ?? `${unknownPrefix}${bit}`);
  }
  return out;
}

/** Group descriptor, 32-byte form (group_descr.rst, struct ext4_group_desc). */
export const BG = {
  bg_block_bitmap_lo: 0x0,
  bg_inode_bitmap_lo: 0x4,
  bg_inode_table_lo: 0x8,
  bg_free_blocks_count_lo: 0xc, // le16
  bg_free_inodes_count_lo: 0xe, // le16
  bg_used_dirs_count_lo: 0x10, // le16
  bg_flags: 0x12, // le16
} as const;

/** Inode (inodes.rst, struct ext4_inode). */
export const INODE = {
  i_mode: 0x0, // le16
  i_uid: 0x2, // le16, low bits
  i_size_lo: 0x4,
  i_atime: 0x8,
  i_ctime: 0xc,
  i_mtime: 0x10,
  i_dtime: 0x14,
  i_gid: 0x18, // le16, low bits
  i_links_count: 0x1a, // le16
  i_blocks_lo: 0x1c, // 512-byte units (huge_file without EXT4_HUGE_FILE_FL)
  i_flags: 0x20,
  i_block: 0x28, // 60 bytes: extent tree root, fast symlink target or device number
  i_generation: 0x64,
  i_file_acl_lo: 0x68,
  i_size_high: 0x6c,
  l_i_blocks_high: 0x74, // le16
  l_i_file_acl_high: 0x76, // le16
  l_i_uid_high: 0x78, // le16
  l_i_gid_high: 0x7a, // le16
  i_extra_isize: 0x80, // le16
  i_ctime_extra: 0x84,
  i_mtime_extra: 0x88,
  i_atime_extra: 0x8c,
  i_crtime: 0x90,
  i_crtime_extra: 0x94,
} as const;
export const I_BLOCK_SIZE = 60;
/** Where in-inode extended attributes start: after the 32 extra bytes. */
export const INODE_XATTR_OFFSET = GOOD_OLD_INODE_SIZE + EXTRA_ISIZE;

/** i_mode file-type bits (S_IF*), and the mask of them. */
export const S_IF = {
  SOCK: 0o140000,
  LNK: 0o120000,
  REG: 0o100000,
  BLK: 0o060000,
  DIR: 0o040000,
  CHR: 0o020000,
  FIFO: 0o010000,
} as const;
export const S_IFMT = 0o170000;

/** i_flags. */
export const EXT4_INDEX_FL = 0x1000; // hashed (htree) directory
export const EXT4_EXTENTS_FL = 0x80000;

/** Directory entry file_type (directory.rst, ext4_dir_entry_2). */
export const FT = { REG: 1, DIR: 2, CHR: 3, BLK: 4, FIFO: 5, SOCK: 6, LNK: 7 } as const;

/** Each kind of inode: its i_mode type bits, its directory entry file_type, its ls letter. */
export const FILE_TYPES: Readonly<Record<InodeKind, { mode: number; dirent: number; letter: string }>> = {
  file: { mode: S_IF.REG, dirent: FT.REG, letter: '-' },
  dir: { mode: S_IF.DIR, dirent: FT.DIR, letter: 'd' },
  symlink: { mode: S_IF.LNK, dirent: FT.LNK, letter: 'l' },
  char: { mode: S_IF.CHR, dirent: FT.CHR, letter: 'c' },
  block: { mode: S_IF.BLK, dirent: FT.BLK, letter: 'b' },
  fifo: { mode: S_IF.FIFO, dirent: FT.FIFO, letter: 'p' },
  socket: { mode: S_IF.SOCK, dirent: FT.SOCK, letter: 's' },
};
export const DIRENT_HEADER = 8; // inode le32, rec_len le16, name_len u8, file_type u8
export const MAX_NAME_LEN = 255;
/** Links counts above this become 1 on directories with dir_nlink (ext4.h EXT4_LINK_MAX). */
export const EXT4_LINK_MAX = 65000;

/** Extent tree (ifork.rst): header, leaf and index entries are 12 bytes each. */
export const EXT4_EXT_MAGIC = 0xf30a;
export const EXTENT_ENTRY_SIZE = 12;
export const EXTENT_HEADER = { eh_magic: 0, eh_entries: 2, eh_max: 4, eh_depth: 6, eh_generation: 8 } as const;
export const EXTENT_LEAF = { ee_block: 0, ee_len: 4, ee_start_hi: 6, ee_start_lo: 8 } as const;
export const EXTENT_INDEX = { ei_block: 0, ei_leaf_lo: 4, ei_leaf_hi: 8 } as const;
/** Longest initialized extent (EXT_INIT_MAX_LEN). */
export const EXT_INIT_MAX_LEN = 32768;
export const EXTENTS_IN_INODE = (I_BLOCK_SIZE - EXTENT_ENTRY_SIZE) / EXTENT_ENTRY_SIZE; // 4
export const EXTENTS_IN_BLOCK = Math.floor((BLOCK_SIZE - EXTENT_ENTRY_SIZE) / EXTENT_ENTRY_SIZE); // 340

/** Extended attributes (attributes.rst). */
export const EXT4_XATTR_MAGIC = 0xea020000;
export const XATTR_HEADER_SIZE = 32; // block header: h_magic, h_refcount, h_blocks, h_hash, h_checksum, h_reserved[3]
export const XATTR_HEADER = { h_magic: 0, h_refcount: 4, h_blocks: 8, h_hash: 12 } as const;
export const XATTR_ENTRY = {
  e_name_len: 0, // u8
  e_name_index: 1, // u8
  e_value_offs: 2, // le16
  e_value_inum: 4,
  e_value_size: 8,
  e_hash: 12,
  e_name: 16,
} as const;
/** Attribute name prefixes and their e_name_index (fs/ext4/xattr.h). Longest match first. */
export const XATTR_INDEX: ReadonlyArray<readonly [prefix: string, index: number]> = [
  ['system.posix_acl_access', 2],
  ['system.posix_acl_default', 3],
  ['system.richacl', 8],
  ['user.', 1],
  ['trusted.', 4],
  ['security.', 6],
  ['system.', 7],
];

/** POSIX ACLs: the xattr (user-space) form and ext4's on-disk form (fs/ext4/acl.h). */
export const POSIX_ACL_XATTR_VERSION = 0x0002;
export const EXT4_ACL_VERSION = 0x0001;
export const ACL_TAG = { USER_OBJ: 0x01, USER: 0x02, GROUP_OBJ: 0x04, GROUP: 0x08, MASK: 0x10, OTHER: 0x20 } as const;

/** htree (directory.rst, "Hash Tree Directories"). */
export const DX_ROOT_INFO = { reserved_zero: 0, hash_version: 4, info_length: 5, indirect_levels: 6, unused_flags: 7 } as const;
export const DX_ENTRY_SIZE = 8; // hash le32, block le32

/** jbd2 journal superblock (journal.rst, journal_superblock_t), big-endian. */
export const JBD2_MAGIC_NUMBER = 0xc03b3998;
export const JBD2_SUPERBLOCK_V2 = 4;
export const JSB = {
  h_magic: 0x0,
  h_blocktype: 0x4,
  h_sequence: 0x8,
  s_blocksize: 0xc,
  s_maxlen: 0x10,
  s_first: 0x14,
  s_sequence: 0x18,
  s_start: 0x1c,
  s_errno: 0x20,
  s_feature_compat: 0x24,
  s_feature_incompat: 0x28,
  s_feature_ro_compat: 0x2c,
  s_uuid: 0x30, // u8[16]
  s_nr_users: 0x40,
  s_max_transaction: 0x48,
  s_max_trans_data: 0x4c,
  s_users: 0x100, // u8[16 * 48]
} as const;

/**
 * Writing the metadata of a laid-out tree: directory, symlink, xattr and extent-tree
 * blocks, the journal superblock, inode tables, bitmaps, group descriptors and the
 * superblock with its backups.
 */
import type { Timestamp } from '../tree/tree.js';
import type { BlockAllocator } from './allocator.js';
import { emptyBlock, packRecords } from './dir.js';
import { ExtentList, buildTree } from './extents.js';
import {
  BG,
  BLOCK_SIZE,
  BLOCKS_PER_GROUP,
  COMPAT,
  DESC_SIZE,
  DX_HASH_HALF_MD4,
  EXT2_FLAGS_UNSIGNED_HASH,
  EXT3_JNL_BACKUP_BLOCKS,
  EXT4_DEFM_ACL,
  EXT4_DEFM_XATTR_USER,
  EXT4_DYNAMIC_REV,
  EXT4_ERRORS_CONTINUE,
  EXT4_EXTENTS_FL,
  EXT4_INDEX_FL,
  EXT4_OS_LINUX,
  EXT4_SUPER_MAGIC,
  EXT4_VALID_FS,
  EXTRA_ISIZE,
  FILE_TYPES,
  INCOMPAT,
  INO,
  INODE_SIZE,
  I_BLOCK_SIZE,
  JBD2_MAGIC_NUMBER,
  JBD2_SUPERBLOCK_V2,
  JSB,
  LOG_BLOCK_SIZE,
  LOG_GROUPS_PER_FLEX,
  RO_COMPAT,
  S_IF,
  SUPERBLOCK_OFFSET,
  encodeSuperblock,
  formatUuid,
  type Superblock,
} from './format.js';
import { htreeDirectory } from './htree.js';
import type { OutputFile } from './output-file.js';
import { deviceBlock, encodeInode, type InodeFields } from './inode.js';
import { contentOf, type Identity, type Ext4Summary, type Layout, type NumberedInode, type NumberedTree } from './types.js';
import { writeInodeXattrs, xattrBlock } from './xattr.js';

const SECTORS_PER_BLOCK = BLOCK_SIZE / 512;

export async function writeMetadata(
  file: OutputFile,
  tree: NumberedTree,
  layout: Layout,
  allocator: BlockAllocator,
  id: Identity,
): Promise<Omit<Ext4Summary, 'path' | 'chunkedSha256'>> {
  const used = new BlockBitmap(layout.geometry.blockCount);
  markFixed(used, layout);
  const inodes = new InodeTables(layout, file);
  // The journal (inode 8) first, then in inode order: each group's table is written and
  // dropped once the next group's inodes come, so memory holds one group's table.
  if (layout.journal) await inodes.put(INO.JOURNAL, await writeJournal(file, layout.journal, id, used));
  for (const n of [tree.root, ...tree.others]) {
    await inodes.put(n.ino, await writeInode(file, n, layout, used));
  }
  await inodes.flush();
  await zeroLeftovers(file, allocator);
  const lastIno = INO.FIRST - 1 + tree.others.length;
  const groups = await writeBitmaps(file, layout, used, lastIno, [tree.root, ...tree.others]);
  const freeBlocks = groups.reduce((n, g) => n + g.freeBlocks, 0);
  const inodeCount = layout.inodesPerGroup * layout.geometry.groupCount;
  const freeInodes = inodeCount - lastIno;
  await writeSuperblocks(file, layout, groups, { freeBlocks, freeInodes, inodeCount }, id);
  return {
    sizeBytes: layout.geometry.blockCount * BLOCK_SIZE,
    blockCount: layout.geometry.blockCount,
    freeBlocks,
    inodeCount,
    freeInodes,
    usedBytes: (layout.geometry.blockCount - freeBlocks) * BLOCK_SIZE,
    uuid: formatUuid(id.uuid),
    journalBlocks: layout.journal?.extents.blocks ?? 0,
  };
}

/** One bit per block of the filesystem. */
class BlockBitmap {
  readonly bits: Uint8Array;
  constructor(readonly blockCount: number) {
    this.bits = new Uint8Array(Math.ceil(blockCount / 8));
  }
  mark(start: number, length = 1): void {
    for (let b = start; b < start + length; b++) this.bits[b >>> 3]! |= 1 << (b & 7);
  }
  markExtents(list: ExtentList): void {
    for (const e of list.extents()) this.mark(e.physical, e.length);
  }
}

function markFixed(used: BlockBitmap, layout: Layout): void {
  const g = layout.geometry;
  for (const group of g.backupGroups) used.mark(group * BLOCKS_PER_GROUP, 1 + g.gdtBlocks);
  for (let i = 0; i < g.groupCount; i++) {
    used.mark(layout.blockBitmaps[i]!);
    used.mark(layout.inodeBitmaps[i]!);
    used.mark(layout.inodeTables[i]!, layout.inodeTableBlocks);
  }
}

/**
 * The used part of the inode table of the group being filled, in memory; inodes come in
 * ascending groups, and a group's table is written once the next group's first inode comes.
 */
class InodeTables {
  private group = -1;
  private buffer: Buffer | undefined;
  constructor(
    private readonly layout: Layout,
    private readonly file: OutputFile,
  ) {}

  async put(ino: number, fields: InodeFields & { inInode?: Parameters<typeof writeInodeXattrs>[1] }): Promise<void> {
    const index = ino - 1;
    const group = Math.floor(index / this.layout.inodesPerGroup);
    if (group < this.group) throw new Error(`inode ${ino} comes after group ${this.group} was written`);
    if (group !== this.group) {
      await this.flush();
      this.group = group;
    }
    const slot = index % this.layout.inodesPerGroup;
    const needed = (Math.floor(slot / 16) + 1) * BLOCK_SIZE;
    let buf = this.buffer;
    if (!buf || buf.length < needed) {
      const grown = Buffer.alloc(Math.max(needed, Math.min((buf?.length ?? 0) * 2, this.layout.inodeTableBlocks * BLOCK_SIZE)));
      buf?.copy(grown);
      buf = grown;
      this.buffer = buf;
    }
    const inode = buf.subarray(slot * INODE_SIZE, (slot + 1) * INODE_SIZE);
    encodeInode(inode, fields);
    if (fields.inInode) writeInodeXattrs(inode, fields.inInode);
  }

  /** Writes the table of the group being filled. */
  async flush(): Promise<void> {
    if (this.buffer) await this.file.write(this.layout.inodeTables[this.group]!, this.buffer);
    this.buffer = undefined;
  }
}

async function writeBlocks(file: OutputFile, blocks: number[], data: Buffer[]): Promise<void> {
  for (let i = 0; i < blocks.length; i++) await file.write(blocks[i]!, data[i]!);
}

async function writeInode(
  file: OutputFile,
  n: NumberedInode,
  layout: Layout,
  used: BlockBitmap,
): Promise<InodeFields & { inInode?: Parameters<typeof writeInodeXattrs>[1] }> {
  const inode = n.inode;
  const plan = layout.needs.plans.get(n.ino)!;
  const place = layout.placements.get(n.ino)!;
  let size = 0;
  let flags = 0;
  let block: Buffer = Buffer.alloc(I_BLOCK_SIZE);
  let dataBlocks = 0;
  const withTree = async (list: ExtentList) => {
    const tree = buildTree(list, place.treeBlocks);
    await writeBlocks(file, place.treeBlocks, tree.blocks);
    used.markExtents(list);
    for (const b of place.treeBlocks) used.mark(b);
    flags |= EXT4_EXTENTS_FL;
    block = tree.root;
    dataBlocks = list.blocks + place.treeBlocks.length;
  };
  switch (inode.kind) {
    case 'file': {
      const content = contentOf(inode);
      size = content.size;
      await withTree(content.extents);
      break;
    }
    case 'dir': {
      const extents = place.dirExtents!;
      const records = n.records!;
      const blocks = plan.htree
        ? htreeDirectory(records[0]!.inode, records[1]!.inode, plan.htree)
        : packRecords(records);
      if (plan.htree) flags |= EXT4_INDEX_FL;
      while (blocks.length < extents.blocks) blocks.push(emptyBlock());
      let i = 0;
      for (const e of extents.extents()) {
        await file.write(e.physical, Buffer.concat(blocks.slice(i, i + e.length)));
        i += e.length;
      }
      size = extents.blocks * BLOCK_SIZE;
      await withTree(extents);
      break;
    }
    case 'symlink': {
      const target = Buffer.from(inode.target, 'latin1');
      size = target.length;
      if (place.symlinkBlock !== undefined) {
        const data = Buffer.alloc(BLOCK_SIZE);
        target.copy(data);
        await file.write(place.symlinkBlock, data);
        const list = new ExtentList();
        list.add(0, place.symlinkBlock);
        await withTree(list);
      } else {
        target.copy(block); // fast symlink: the target lives in i_block
      }
      break;
    }
    case 'char':
    case 'block':
      block = deviceBlock(inode.major, inode.minor);
      break;
    case 'fifo':
    case 'socket':
      break;
  }
  let xattrBlockNo = 0;
  if (place.xattrBlock !== undefined) {
    xattrBlockNo = place.xattrBlock;
    await file.write(xattrBlockNo, xattrBlock(plan.xattrs.inBlock));
    used.mark(xattrBlockNo);
    dataBlocks += 1;
  }
  return {
    mode: FILE_TYPES[inode.kind].mode | (inode.mode & 0o7777),
    uid: inode.uid,
    gid: inode.gid,
    size,
    atime: inode.atime,
    mtime: inode.mtime,
    ctime: inode.ctime,
    crtime: inode.ctime,
    links: n.links,
    sectors: dataBlocks * SECTORS_PER_BLOCK,
    flags,
    block,
    xattrBlock: xattrBlockNo,
    inInode: plan.xattrs.inInode,
  };
}

async function writeJournal(
  file: OutputFile,
  journal: NonNullable<Layout['journal']>,
  id: Identity,
  used: BlockBitmap,
): Promise<InodeFields> {
  const blocks = journal.extents.blocks;
  const jsb = Buffer.alloc(BLOCK_SIZE);
  jsb.writeUInt32BE(JBD2_MAGIC_NUMBER, JSB.h_magic);
  jsb.writeUInt32BE(JBD2_SUPERBLOCK_V2, JSB.h_blocktype);
  jsb.writeUInt32BE(BLOCK_SIZE, JSB.s_blocksize);
  jsb.writeUInt32BE(blocks, JSB.s_maxlen);
  jsb.writeUInt32BE(1, JSB.s_first);
  jsb.writeUInt32BE(1, JSB.s_sequence);
  id.uuid.copy(jsb, JSB.s_uuid);
  jsb.writeUInt32BE(1, JSB.s_nr_users);
  await file.write(journal.extents.runs[1]!, jsb);
  const tree = buildTree(journal.extents, journal.treeBlocks);
  await writeBlocks(file, journal.treeBlocks, tree.blocks);
  used.markExtents(journal.extents);
  for (const b of journal.treeBlocks) used.mark(b);
  return {
    mode: S_IF.REG | 0o600,
    uid: 0,
    gid: 0,
    size: blocks * BLOCK_SIZE,
    atime: id.time,
    mtime: id.time,
    ctime: id.time,
    crtime: id.time,
    links: 1,
    sectors: (blocks + journal.treeBlocks.length) * SECTORS_PER_BLOCK,
    flags: EXT4_EXTENTS_FL,
    block: tree.root,
    xattrBlock: 0,
  };
}

/** Blocks freed by replaced files and never reused hold deleted data: zero them. */
async function zeroLeftovers(file: OutputFile, allocator: BlockAllocator): Promise<void> {
  for (const [start, length] of allocator.leftovers()) {
    for (let done = 0; done < length; ) {
      const n = Math.min(length - done, 256);
      await file.write(start + done, Buffer.alloc(n * BLOCK_SIZE));
      done += n;
    }
  }
}

interface GroupCounts {
  freeBlocks: number;
  freeInodes: number;
  dirs: number;
}

async function writeBitmaps(
  file: OutputFile,
  layout: Layout,
  used: BlockBitmap,
  lastIno: number,
  all: NumberedInode[],
): Promise<GroupCounts[]> {
  const g = layout.geometry;
  const perGroup = layout.inodesPerGroup;
  const dirsPerGroup = new Array<number>(g.groupCount).fill(0);
  for (const n of all) if (n.inode.kind === 'dir') dirsPerGroup[Math.floor((n.ino - 1) / perGroup)]!++;
  const counts: GroupCounts[] = [];
  for (let group = 0; group < g.groupCount; group++) {
    const first = group * BLOCKS_PER_GROUP;
    const inGroup = Math.min(BLOCKS_PER_GROUP, g.blockCount - first);
    const blockBits = Buffer.alloc(BLOCK_SIZE, 0xff); // bits past the end stay set (padding)
    blockBits.fill(0, 0, Math.ceil(inGroup / 8));
    let usedBlocks = 0;
    for (let i = 0; i < inGroup; i++) {
      const b = first + i;
      if (used.bits[b >>> 3]! & (1 << (b & 7))) {
        blockBits[i >>> 3]! |= 1 << (i & 7);
        usedBlocks++;
      }
    }
    for (let i = inGroup; i < Math.ceil(inGroup / 8) * 8; i++) blockBits[i >>> 3]! |= 1 << (i & 7);
    const inodeBits = Buffer.alloc(BLOCK_SIZE, 0xff);
    inodeBits.fill(0, 0, perGroup / 8);
    const usedInodes = Math.max(0, Math.min(perGroup, lastIno - group * perGroup));
    for (let i = 0; i < usedInodes; i++) inodeBits[i >>> 3]! |= 1 << (i & 7);
    await file.write(layout.blockBitmaps[group]!, blockBits);
    await file.write(layout.inodeBitmaps[group]!, inodeBits);
    counts.push({ freeBlocks: inGroup - usedBlocks, freeInodes: perGroup - usedInodes, dirs: dirsPerGroup[group]! });
  }
  return counts;
}

async function writeSuperblocks(
  file: OutputFile,
  layout: Layout,
  groups: GroupCounts[],
  totals: { freeBlocks: number; freeInodes: number; inodeCount: number },
  id: Identity,
): Promise<void> {
  const g = layout.geometry;
  const gdt = Buffer.alloc(g.gdtBlocks * BLOCK_SIZE);
  groups.forEach((c, i) => {
    const d = gdt.subarray(i * DESC_SIZE, (i + 1) * DESC_SIZE);
    d.writeUInt32LE(layout.blockBitmaps[i]!, BG.bg_block_bitmap_lo);
    d.writeUInt32LE(layout.inodeBitmaps[i]!, BG.bg_inode_bitmap_lo);
    d.writeUInt32LE(layout.inodeTables[i]!, BG.bg_inode_table_lo);
    d.writeUInt16LE(c.freeBlocks, BG.bg_free_blocks_count_lo);
    d.writeUInt16LE(c.freeInodes, BG.bg_free_inodes_count_lo);
    d.writeUInt16LE(c.dirs, BG.bg_used_dirs_count_lo);
  });
  for (const group of g.backupGroups) {
    const sb = superblock(layout, totals, id, group);
    const block = Buffer.alloc(BLOCK_SIZE);
    sb.copy(block, group === 0 ? SUPERBLOCK_OFFSET : 0);
    await file.write(group * BLOCKS_PER_GROUP, Buffer.concat([block, gdt]));
  }
}

function clampTime(t: Timestamp): number {
  return Math.min(Math.max(t.sec, 0), 2 ** 32 - 1);
}

function superblock(
  layout: Layout,
  totals: { freeBlocks: number; freeInodes: number; inodeCount: number },
  id: Identity,
  group: number,
): Buffer {
  const g = layout.geometry;
  const now = clampTime(id.time);
  return encodeSuperblock({
    s_inodes_count: totals.inodeCount,
    s_blocks_count_lo: g.blockCount,
    s_r_blocks_count_lo: Math.floor(g.blockCount * 0.05),
    s_free_blocks_count_lo: totals.freeBlocks,
    s_free_inodes_count: totals.freeInodes,
    s_first_data_block: 0,
    s_log_block_size: LOG_BLOCK_SIZE,
    s_log_cluster_size: LOG_BLOCK_SIZE,
    s_blocks_per_group: BLOCKS_PER_GROUP,
    s_clusters_per_group: BLOCKS_PER_GROUP,
    s_inodes_per_group: layout.inodesPerGroup,
    s_wtime: now,
    s_max_mnt_count: 0xffff, // -1: no mount-count checks
    s_magic: EXT4_SUPER_MAGIC,
    s_state: EXT4_VALID_FS,
    s_errors: EXT4_ERRORS_CONTINUE,
    s_lastcheck: now,
    s_creator_os: EXT4_OS_LINUX,
    s_rev_level: EXT4_DYNAMIC_REV,
    s_first_ino: INO.FIRST,
    s_inode_size: INODE_SIZE,
    s_block_group_nr: group,
    s_feature_compat: COMPAT.ext_attr | COMPAT.dir_index | (layout.journal ? COMPAT.has_journal : 0),
    s_feature_incompat: INCOMPAT.filetype | INCOMPAT.extent | INCOMPAT.flex_bg,
    s_feature_ro_compat:
      RO_COMPAT.sparse_super | RO_COMPAT.large_file | RO_COMPAT.huge_file | RO_COMPAT.dir_nlink | RO_COMPAT.extra_isize,
    s_uuid: id.uuid,
    s_volume_name: Buffer.from(id.label, 'utf8'),
    s_hash_seed: id.hashSeed,
    s_def_hash_version: DX_HASH_HALF_MD4,
    s_default_mount_opts: EXT4_DEFM_XATTR_USER | EXT4_DEFM_ACL,
    s_mkfs_time: now,
    ...(layout.journal ? journalFields(layout.journal) : {}),
    s_min_extra_isize: EXTRA_ISIZE,
    s_want_extra_isize: EXTRA_ISIZE,
    s_flags: EXT2_FLAGS_UNSIGNED_HASH,
    s_log_groups_per_flex: LOG_GROUPS_PER_FLEX,
  });
}

/** The journal inode, and a backup of its extent root in s_jnl_blocks. */
function journalFields(journal: NonNullable<Layout['journal']>): Partial<Superblock> {
  // s_jnl_blocks: the journal inode's i_block, then i_size_high (0) and i_size
  const jnlBlocks = Buffer.alloc(17 * 4);
  buildTree(journal.extents, journal.treeBlocks).root.copy(jnlBlocks);
  jnlBlocks.writeUInt32LE(journal.extents.blocks * BLOCK_SIZE, 16 * 4);
  return { s_journal_inum: INO.JOURNAL, s_jnl_backup_type: EXT3_JNL_BACKUP_BLOCKS, s_jnl_blocks: jnlBlocks };
}

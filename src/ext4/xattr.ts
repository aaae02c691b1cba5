/**
 * Extended attributes in ext4's layout (attributes.rst): as many as fit in the inode's
 * spare 96 bytes, the rest in one external block, sorted as the kernel searches a block
 * (name index, then name length, then name). POSIX ACLs arrive in the user-space xattr
 * form and are stored in ext4's own, shorter form (fs/ext4/acl.c).
 */
import { InfraError, printable } from '../errors.js';
import {
  ACL_TAG,
  BLOCK_SIZE,
  EXT4_ACL_VERSION,
  EXT4_XATTR_MAGIC,
  INODE_SIZE,
  INODE_XATTR_OFFSET,
  POSIX_ACL_XATTR_VERSION,
  XATTR_ENTRY,
  XATTR_HEADER,
  XATTR_HEADER_SIZE,
  XATTR_INDEX,
} from './format.js';

export interface XattrEntry {
  index: number;
  /** Name without the prefix its index stands for, as bytes. */
  suffix: Buffer;
  value: Buffer;
}

export interface XattrLayout {
  /** Entries stored in the inode body, in order. */
  inInode: XattrEntry[];
  /** Entries for the external block (sorted), or empty when none is needed. */
  inBlock: XattrEntry[];
}

const IN_INODE_SPACE = INODE_SIZE - INODE_XATTR_OFFSET - 4; // minus the 4-byte magic
const BLOCK_SPACE = BLOCK_SIZE - XATTR_HEADER_SIZE;

const pad4 = (n: number) => (n + 3) & ~3;
/** EXT4_XATTR_LEN: entry header plus name, padded to 4 bytes. */
const entryLength = (e: XattrEntry) => pad4(XATTR_ENTRY.e_name + e.suffix.length);
const valueLength = (e: XattrEntry) => pad4(e.value.length);

/** Splits a full attribute name into ext4's (index, suffix), converting ACL values. */
export function toEntry(name: string, value: Buffer): XattrEntry {
  for (const [prefix, index] of XATTR_INDEX) {
    if (!name.startsWith(prefix)) continue;
    const suffix = Buffer.from(name.slice(prefix.length), 'latin1');
    if (suffix.length > 255) throw new InfraError('XATTR', `Extended attribute name '${printable(name)}' is longer than ext4 allows (255 bytes after the prefix).`);
    const stored = index === 2 || index === 3 ? aclToDisk(name, value) : value;
    return { index, suffix, value: stored };
  }
  throw new InfraError('XATTR', `Extended attribute '${printable(name)}' has a namespace ext4 cannot store (user., trusted., security., system.).`);
}

/** Kernel search order for xattr blocks: index, name length, name bytes. */
export function compareEntries(a: XattrEntry, b: XattrEntry): number {
  return a.index - b.index || a.suffix.length - b.suffix.length || Buffer.compare(a.suffix, b.suffix);
}

/** Decides which attributes live in the inode and which in the block. */
const NO_XATTRS: XattrLayout = Object.freeze({ inInode: [], inBlock: [] }) as XattrLayout;

export function layoutXattrs(xattrs: ReadonlyMap<string, Buffer>, owner: string): XattrLayout {
  if (xattrs.size === 0) return NO_XATTRS;
  const entries = [...xattrs].map(([name, value]) => toEntry(name, value)).sort(compareEntries);
  const inInode: XattrEntry[] = [];
  const inBlock: XattrEntry[] = [];
  let inodeUsed = 4; // the terminating zero word
  for (const e of entries) {
    const need = entryLength(e) + valueLength(e);
    if (inBlock.length === 0 && inodeUsed + need <= IN_INODE_SPACE) {
      inInode.push(e);
      inodeUsed += need;
    } else {
      inBlock.push(e);
    }
  }
  const blockUsed = inBlock.reduce((n, e) => n + entryLength(e) + valueLength(e), 4);
  if (blockUsed > BLOCK_SPACE) {
    throw new InfraError(
      'XATTR',
      `The extended attributes of '${printable(owner)}' need ${blockUsed + XATTR_HEADER_SIZE} bytes; ext4 stores at most ${BLOCK_SIZE} per file (one block). Drop or shorten them in the image.`,
    );
  }
  return { inInode, inBlock };
}

/** ext2fs_ext_attr_hash_entry: name bytes, then the value as le32 words (zero-padded). */
export function entryHash(e: XattrEntry): number {
  let hash = 0;
  for (const byte of e.suffix) hash = ((hash << 5) ^ (hash >>> 27) ^ byte) >>> 0;
  const words = pad4(e.value.length) / 4;
  const padded = e.value.length % 4 === 0 ? e.value : Buffer.concat([e.value, Buffer.alloc(pad4(e.value.length) - e.value.length)]);
  for (let i = 0; i < words; i++) hash = ((hash << 16) ^ (hash >>> 16) ^ padded.readUInt32LE(i * 4)) >>> 0;
  return hash;
}

/**
 * Writes entries into `area` (the inode's xattr space after the magic, or the block after
 * its header): descriptors from the front, values from the back. `valueBase` is the offset
 * e_value_offs counts from (first entry for the inode, block start for a block).
 */
function packEntries(area: Buffer, areaStart: number, entries: XattrEntry[], valueBase: number): number[] {
  let descOff = areaStart;
  let valueEnd = area.length;
  const hashes: number[] = [];
  for (const e of entries) {
    valueEnd -= valueLength(e);
    e.value.copy(area, valueEnd);
    const hash = entryHash(e);
    hashes.push(hash);
    area.writeUInt8(e.suffix.length, descOff + XATTR_ENTRY.e_name_len);
    area.writeUInt8(e.index, descOff + XATTR_ENTRY.e_name_index);
    area.writeUInt16LE(e.value.length === 0 ? 0 : valueEnd - valueBase, descOff + XATTR_ENTRY.e_value_offs);
    area.writeUInt32LE(0, descOff + XATTR_ENTRY.e_value_inum);
    area.writeUInt32LE(e.value.length, descOff + XATTR_ENTRY.e_value_size);
    area.writeUInt32LE(hash, descOff + XATTR_ENTRY.e_hash);
    e.suffix.copy(area, descOff + XATTR_ENTRY.e_name);
    descOff += entryLength(e);
  }
  return hashes;
}

/** Fills the in-inode xattr area of a 256-byte inode buffer. */
export function writeInodeXattrs(inode: Buffer, entries: XattrEntry[]): void {
  if (entries.length === 0) return;
  const area = inode.subarray(INODE_XATTR_OFFSET);
  area.writeUInt32LE(EXT4_XATTR_MAGIC, 0);
  packEntries(area, 4, entries, 4);
}

/** Builds an external xattr block (refcount 1). */
export function xattrBlock(entries: XattrEntry[]): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  block.writeUInt32LE(EXT4_XATTR_MAGIC, XATTR_HEADER.h_magic);
  block.writeUInt32LE(1, XATTR_HEADER.h_refcount);
  block.writeUInt32LE(1, XATTR_HEADER.h_blocks);
  const hashes = packEntries(block, XATTR_HEADER_SIZE, entries, 0);
  // ext2fs_ext_attr_block_rehash
  let hash = 0;
  for (const h of hashes) hash = ((hash << 16) ^ (hash >>> 16) ^ h) >>> 0;
  block.writeUInt32LE(hash, XATTR_HEADER.h_hash);
  return block;
}

/**
 * posix_acl_xattr (le32 version 2; entries le16 tag, le16 perm, le32 id) → ext4_acl
 * (le32 version 1; short 4-byte entries for *_OBJ, MASK, OTHER; 8 bytes for USER/GROUP).
 */
export function aclToDisk(name: string, value: Buffer): Buffer {
  const bad = () =>
    new InfraError('XATTR', `The POSIX ACL in '${printable(name)}' is malformed (expected version 2 and 8-byte entries).`);
  if (value.length < 4 || (value.length - 4) % 8 !== 0) throw bad();
  if (value.readUInt32LE(0) !== POSIX_ACL_XATTR_VERSION) {
    if (value.readUInt32LE(0) === EXT4_ACL_VERSION) return value; // already in disk form
    throw bad();
  }
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeUInt32LE(EXT4_ACL_VERSION, 0);
  for (let off = 4; off < value.length; off += 8) {
    const tag = value.readUInt16LE(off);
    const perm = value.readUInt16LE(off + 2);
    const full = tag === ACL_TAG.USER || tag === ACL_TAG.GROUP;
    if (!full && ![ACL_TAG.USER_OBJ, ACL_TAG.GROUP_OBJ, ACL_TAG.MASK, ACL_TAG.OTHER].includes(tag as 1)) throw bad();
    const entry = Buffer.alloc(full ? 8 : 4);
    entry.writeUInt16LE(tag, 0);
    entry.writeUInt16LE(perm, 2);
    if (full) entry.writeUInt32LE(value.readUInt32LE(off + 4), 4);
    parts.push(entry);
  }
  return Buffer.concat(parts);
}

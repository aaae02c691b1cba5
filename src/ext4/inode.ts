/** Encoding of one 256-byte inode (inodes.rst). */
import type { Timestamp } from '../tree/tree.js';
import { EXTRA_ISIZE, INODE, INODE_SIZE } from './format.js';

export interface InodeFields {
  mode: number; // full i_mode including the S_IF* type bits
  uid: number;
  gid: number;
  size: number;
  atime: Timestamp;
  mtime: Timestamp;
  ctime: Timestamp;
  crtime: Timestamp;
  links: number;
  /** 512-byte sectors: data, extent tree and xattr blocks. */
  sectors: number;
  flags: number;
  /** The 60 bytes of i_block. */
  block: Buffer;
  xattrBlock: number;
}

const TWO32 = 2 ** 32;
/** Times ext4 can hold with its 2 epoch bits: [-2^31, 2^34 - 2^31). */
const MIN_TIME = -(2 ** 31);
const MAX_TIME = 2 ** 34 - 2 ** 31 - 1;

/**
 * Splits a time into (i_*time, i_*time_extra): the low 32 bits of the seconds, and
 * epoch bits ((sec - (s32)sec) >> 32) & 3 plus nanoseconds << 2 (inodes.rst, "Inode
 * Timestamps").
 */
export function encodeTime(t: Timestamp): [low: number, extra: number] {
  const sec = Math.min(Math.max(t.sec, MIN_TIME), MAX_TIME);
  const low = ((sec % TWO32) + TWO32) % TWO32;
  const signedLow = low >= 2 ** 31 ? low - TWO32 : low;
  const epoch = ((sec - signedLow) / TWO32) & 3;
  const nsec = sec === t.sec ? t.nsec : 0;
  return [low, (epoch | (nsec << 2)) >>> 0];
}

function putTime(buf: Buffer, lowOff: number, extraOff: number, t: Timestamp): void {
  const [low, extra] = encodeTime(t);
  buf.writeUInt32LE(low, lowOff);
  buf.writeUInt32LE(extra, extraOff);
}

export function encodeInode(buf: Buffer, f: InodeFields): void {
  buf.fill(0, 0, INODE_SIZE);
  buf.writeUInt16LE(f.mode, INODE.i_mode);
  buf.writeUInt16LE(f.uid & 0xffff, INODE.i_uid);
  buf.writeUInt16LE(f.uid >>> 16, INODE.l_i_uid_high);
  buf.writeUInt16LE(f.gid & 0xffff, INODE.i_gid);
  buf.writeUInt16LE(f.gid >>> 16, INODE.l_i_gid_high);
  buf.writeUInt32LE(f.size % TWO32, INODE.i_size_lo);
  buf.writeUInt32LE(Math.floor(f.size / TWO32), INODE.i_size_high);
  putTime(buf, INODE.i_atime, INODE.i_atime_extra, f.atime);
  putTime(buf, INODE.i_mtime, INODE.i_mtime_extra, f.mtime);
  putTime(buf, INODE.i_ctime, INODE.i_ctime_extra, f.ctime);
  putTime(buf, INODE.i_crtime, INODE.i_crtime_extra, f.crtime);
  buf.writeUInt16LE(f.links, INODE.i_links_count);
  buf.writeUInt32LE(f.sectors % TWO32, INODE.i_blocks_lo);
  buf.writeUInt16LE(Math.floor(f.sectors / TWO32), INODE.l_i_blocks_high);
  buf.writeUInt32LE(f.flags, INODE.i_flags);
  f.block.copy(buf, INODE.i_block);
  buf.writeUInt32LE(f.xattrBlock % TWO32, INODE.i_file_acl_lo);
  buf.writeUInt16LE(Math.floor(f.xattrBlock / TWO32), INODE.l_i_file_acl_high);
  buf.writeUInt16LE(EXTRA_ISIZE, INODE.i_extra_isize);
}

/**
 * Device numbers in i_block: the old 16-bit encoding when both fit in a byte, else the
 * new one in i_block[1] (fs/ext4/inode.c, ext4_write_inode; new_encode_dev).
 */
export function deviceBlock(major: number, minor: number): Buffer {
  const block = Buffer.alloc(60);
  if (major < 256 && minor < 256) {
    block.writeUInt32LE((major << 8) | minor, 0);
  } else {
    block.writeUInt32LE(((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, 4);
  }
  return block;
}

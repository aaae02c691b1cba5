/**
 * Directory blocks (directory.rst): linear blocks of ext4_dir_entry_2 records; the last
 * record of each block stretches to the block's end. Large directories also get an htree
 * index (htree.ts) built over the same leaf records.
 */
import { BLOCK_SIZE, DIRENT_HEADER } from './format.js';

export interface DirRecord {
  name: Buffer;
  inode: number;
  fileType: number;
}

/** EXT4_DIR_REC_LEN: header plus name, padded to 4 bytes. */
export const recordLength = (nameLength: number) => (DIRENT_HEADER + nameLength + 3) & ~3;

export function writeRecord(block: Buffer, off: number, r: DirRecord, recLen: number): void {
  block.writeUInt32LE(r.inode, off);
  block.writeUInt16LE(recLen, off + 4);
  block.writeUInt8(r.name.length, off + 6);
  block.writeUInt8(r.fileType, off + 7);
  r.name.copy(block, off + DIRENT_HEADER);
}

/** Packs records into blocks in order; every block is full-length. */
export function packRecords(records: DirRecord[]): Buffer[] {
  const blocks: Buffer[] = [];
  let block = Buffer.alloc(BLOCK_SIZE);
  let used = 0;
  let lastOff = -1;
  let last: DirRecord | undefined;
  const close = () => {
    if (last) writeRecord(block, lastOff, last, BLOCK_SIZE - lastOff);
    else emptyBlock(block);
    blocks.push(block);
  };
  for (const r of records) {
    const len = recordLength(r.name.length);
    if (used + len > BLOCK_SIZE) {
      close();
      block = Buffer.alloc(BLOCK_SIZE);
      used = 0;
      last = undefined;
    }
    if (last) writeRecord(block, lastOff, last, used - lastOff);
    lastOff = used;
    last = r;
    used += len;
  }
  close();
  return blocks;
}

/** A block holding one empty record (inode 0) spanning it, as mke2fs leaves unused ones. */
export function emptyBlock(block: Buffer = Buffer.alloc(BLOCK_SIZE)): Buffer {
  block.writeUInt32LE(0, 0);
  block.writeUInt16LE(BLOCK_SIZE, 4);
  return block;
}

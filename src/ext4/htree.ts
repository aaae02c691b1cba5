/**
 * Hashed (htree) directories (directory.rst, "Hash Tree Directories"; fs/ext4/hash.c and
 * namei.c). Block 0 is the dx_root: fake '.' and '..' records, dx_root_info and the
 * first index level; with more leaves than one level indexes, dx_node blocks form a
 * second level. Leaves are ordinary directory blocks holding the entries in hash order.
 */
import { InfraError } from '../errors.js';
import { type DirRecord, packRecords, recordLength, writeRecord } from './dir.js';
import { BLOCK_SIZE, DX_ENTRY_SIZE, DX_HASH_HALF_MD4, DX_ROOT_INFO, FT } from './format.js';

const ROOT_INFO_OFFSET = 24; // after the fake '.' (12 bytes) and '..' (12 bytes) records
const ROOT_ENTRIES_OFFSET = 32;
const NODE_ENTRIES_OFFSET = 8; // after a fake empty record spanning the block
export const ROOT_LIMIT = (BLOCK_SIZE - ROOT_ENTRIES_OFFSET) / DX_ENTRY_SIZE; // 508
export const NODE_LIMIT = (BLOCK_SIZE - NODE_ENTRIES_OFFSET) / DX_ENTRY_SIZE; // 511
const HTREE_EOF_32BIT = 0x7fffffff;
const K2 = 0x5a827999; // 013240474631 in hash.c
const K3 = 0x6ed9eba1; // 015666365641

const rol = (x: number, s: number) => ((x << s) | (x >>> (32 - s))) >>> 0;
const F = (x: number, y: number, z: number) => z ^ (x & (y ^ z));
const G = (x: number, y: number, z: number) => ((x & y) + ((x ^ y) & z)) >>> 0;
const H = (x: number, y: number, z: number) => x ^ y ^ z;

/** half_md4_transform from fs/ext4/hash.c; updates buf in place. */
function halfMd4(buf: Uint32Array, w: Uint32Array): void {
  let [a, b, c, d] = [buf[0]!, buf[1]!, buf[2]!, buf[3]!];
  const round = (f: typeof F, p: number, q: number, r: number, s: number, x: number, shift: number) =>
    rol((p + f(q, r, s) + x) >>> 0, shift);
  a = round(F, a, b, c, d, w[0]!, 3); d = round(F, d, a, b, c, w[1]!, 7);
  c = round(F, c, d, a, b, w[2]!, 11); b = round(F, b, c, d, a, w[3]!, 19);
  a = round(F, a, b, c, d, w[4]!, 3); d = round(F, d, a, b, c, w[5]!, 7);
  c = round(F, c, d, a, b, w[6]!, 11); b = round(F, b, c, d, a, w[7]!, 19);
  a = round(G, a, b, c, d, (w[1]! + K2) >>> 0, 3); d = round(G, d, a, b, c, (w[3]! + K2) >>> 0, 5);
  c = round(G, c, d, a, b, (w[5]! + K2) >>> 0, 9); b = round(G, b, c, d, a, (w[7]! + K2) >>> 0, 13);
  a = round(G, a, b, c, d, (w[0]! + K2) >>> 0, 3); d = round(G, d, a, b, c, (w[2]! + K2) >>> 0, 5);
  c = round(G, c, d, a, b, (w[4]! + K2) >>> 0, 9); b = round(G, b, c, d, a, (w[6]! + K2) >>> 0, 13);
  a = round(H, a, b, c, d, (w[3]! + K3) >>> 0, 3); d = round(H, d, a, b, c, (w[7]! + K3) >>> 0, 9);
  c = round(H, c, d, a, b, (w[2]! + K3) >>> 0, 11); b = round(H, b, c, d, a, (w[6]! + K3) >>> 0, 15);
  a = round(H, a, b, c, d, (w[1]! + K3) >>> 0, 3); d = round(H, d, a, b, c, (w[5]! + K3) >>> 0, 9);
  c = round(H, c, d, a, b, (w[0]! + K3) >>> 0, 11); b = round(H, b, c, d, a, (w[4]! + K3) >>> 0, 15);
  buf[0] = buf[0]! + a;
  buf[1] = buf[1]! + b;
  buf[2] = buf[2]! + c;
  buf[3] = buf[3]! + d;
}

/** str2hashbuf_unsigned: name bytes into `num` words, padded with the length. */
function str2hashbuf(msg: Buffer, start: number, length: number, out: Uint32Array): void {
  let pad = (length | (length << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  let num = out.length;
  let o = 0;
  const len = Math.min(length, num * 4);
  for (let i = 0; i < len; i++) {
    val = (msg[start + i]! + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      out[o++] = val;
      val = pad;
      num--;
    }
  }
  if (--num >= 0) out[o++] = val;
  while (--num >= 0) out[o++] = pad;
}

/**
 * ext4fs_dirhash with DX_HASH_HALF_MD4_UNSIGNED (the superblock sets
 * EXT2_FLAGS_UNSIGNED_HASH): the major hash, low bit cleared.
 */
export function dirHash(name: Buffer, seed: Uint32Array): number {
  const buf = seed.some((w) => w !== 0) ? Uint32Array.from(seed) : Uint32Array.of(0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476);
  const words = new Uint32Array(8);
  for (let p = 0, len = name.length; len > 0; p += 32, len -= 32) {
    str2hashbuf(name, p, len, words);
    halfMd4(buf, words);
  }
  let hash = buf[1]! & ~1;
  hash >>>= 0;
  if (hash === (HTREE_EOF_32BIT << 1) >>> 0) hash = ((HTREE_EOF_32BIT - 1) << 1) >>> 0;
  return hash;
}

export function seedWords(hashSeed: Buffer): Uint32Array {
  return Uint32Array.from([0, 4, 8, 12].map((o) => hashSeed.readUInt32LE(o)));
}

interface Leaf {
  /** Lowest hash in the leaf, with bit 0 set when it continues the previous leaf's hash. */
  hash: number;
  records: DirRecord[];
}

/** Cuts records, sorted by `hashes`, into full leaf blocks. */
function leaves(records: DirRecord[], hashes: Uint32Array, order: Uint32Array): Leaf[] {
  const out: Leaf[] = [];
  let current: Leaf | undefined;
  let used = 0;
  let lastHash = -1;
  for (const i of order) {
    const r = records[i]!;
    const hash = hashes[i]!;
    const len = recordLength(r.name.length);
    if (!current || used + len > BLOCK_SIZE) {
      current = { hash: hash === lastHash ? (hash | 1) >>> 0 : hash, records: [] };
      out.push(current);
      used = 0;
    }
    current.records.push(r);
    used += len;
    lastHash = hash;
  }
  return out;
}

/** An htree directory's leaves and index shape, computed once per directory. */
export interface HtreePlan {
  leaves: Leaf[];
  nodes: number;
  /** Root + index nodes + leaves. */
  blockCount: number;
}

export function planHtree(children: DirRecord[], seed: Uint32Array): HtreePlan {
  const hashes = Uint32Array.from(children, (r) => dirHash(r.name, seed));
  // A stable sort by hash alone: equal hashes keep name order.
  const order = Uint32Array.from(children.keys()).sort((a, b) => hashes[a]! - hashes[b]!);
  const leafList = leaves(children, hashes, order);
  const nodes = leafList.length > ROOT_LIMIT ? Math.ceil(leafList.length / NODE_LIMIT) : 0;
  if (nodes > ROOT_LIMIT) {
    throw new InfraError('LAYER', `A directory has ${children.length} entries, more than an ext4 htree without large_dir can index.`);
  }
  return { leaves: leafList, nodes, blockCount: 1 + nodes + leafList.length };
}

function writeEntries(block: Buffer, offset: number, limit: number, entries: Array<{ hash: number; block: number }>): void {
  // The first entry's hash field holds (limit, count); its block is for the lowest hashes.
  block.writeUInt16LE(limit, offset);
  block.writeUInt16LE(entries.length, offset + 2);
  block.writeUInt32LE(entries[0]!.block, offset + 4);
  for (let i = 1; i < entries.length; i++) {
    block.writeUInt32LE(entries[i]!.hash, offset + i * DX_ENTRY_SIZE);
    block.writeUInt32LE(entries[i]!.block, offset + i * DX_ENTRY_SIZE + 4);
  }
}

/** The directory's blocks in logical order: dx_root, then dx_nodes and leaves. */
export function htreeDirectory(self: number, parent: number, plan: HtreePlan): Buffer[] {
  const { leaves: leafList, nodes } = plan;
  const root = Buffer.alloc(BLOCK_SIZE);
  writeRecord(root, 0, { name: Buffer.from('.'), inode: self, fileType: FT.DIR }, 12);
  writeRecord(root, 12, { name: Buffer.from('..'), inode: parent, fileType: FT.DIR }, BLOCK_SIZE - 12);
  root.writeUInt32LE(0, ROOT_INFO_OFFSET + DX_ROOT_INFO.reserved_zero);
  root.writeUInt8(DX_HASH_HALF_MD4, ROOT_INFO_OFFSET + DX_ROOT_INFO.hash_version);
  root.writeUInt8(8, ROOT_INFO_OFFSET + DX_ROOT_INFO.info_length);
  root.writeUInt8(nodes > 0 ? 1 : 0, ROOT_INFO_OFFSET + DX_ROOT_INFO.indirect_levels);
  const leafBlocks = leafList.map((leaf) => packRecords(leaf.records)[0]!);
  if (nodes === 0) {
    writeEntries(root, ROOT_ENTRIES_OFFSET, ROOT_LIMIT, leafList.map((l, i) => ({ hash: l.hash, block: 1 + i })));
    return [root, ...leafBlocks];
  }
  // Two levels: block 1..nodes are dx_nodes, leaves follow.
  const nodeBlocks: Buffer[] = [];
  const rootEntries: Array<{ hash: number; block: number }> = [];
  for (let n = 0; n < nodes; n++) {
    const slice = leafList.slice(n * NODE_LIMIT, (n + 1) * NODE_LIMIT);
    const node = Buffer.alloc(BLOCK_SIZE);
    node.writeUInt16LE(BLOCK_SIZE, 4); // fake record: inode 0, spanning the block
    writeEntries(node, NODE_ENTRIES_OFFSET, NODE_LIMIT, slice.map((l, i) => ({ hash: l.hash, block: 1 + nodes + n * NODE_LIMIT + i })));
    nodeBlocks.push(node);
    rootEntries.push({ hash: slice[0]!.hash, block: 1 + n });
  }
  writeEntries(root, ROOT_ENTRIES_OFFSET, ROOT_LIMIT, rootEntries);
  return [root, ...nodeBlocks, ...leafBlocks];
}

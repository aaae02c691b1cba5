/**
 * The ext4 writer. While layers are applied it is the `DataSink`: file bytes go straight
 * into data blocks of the image (all-zero blocks become holes). When the tree is final,
 * `finish` numbers the inodes, lays out directories, extent trees, xattr blocks, the
 * journal, bitmaps and inode tables in the space after the data (flex_bg allows group
 * metadata anywhere), and writes them with the superblock and its backups.
 */
import { createHash } from 'node:crypto';
import { InfraError, printable } from '../errors.js';
import { isZero } from '../io/zero.js';
import type { DataSink, DirInode, FileContent, Inode, SparseRegion, Timestamp } from '../tree/tree.js';
import { BlockAllocator } from './allocator.js';
import { type DirRecord, recordLength } from './dir.js';
import { ExtentList, treeBlocksFor } from './extents.js';
import { BLOCK_SIZE, EXT4_LINK_MAX, FT, INO, I_BLOCK_SIZE, MAX_NAME_LEN } from './format.js';
import { type Geometry, BLOCKS_PER_MIB, MAX_BLOCKS, geometryFor } from './geometry.js';
import { ImageFile } from './image-file.js';
import { planLayout, minimumMiB, type Needs } from './layout.js';
import { writeMetadata } from './metadata.js';
import { type XattrLayout, layoutXattrs } from './xattr.js';
import { type HtreePlan, planHtree, seedWords } from './htree.js';

export interface WriterOptions {
  /** Image size in MiB (1 MiB = 1,048,576 bytes), or 'auto': what fits plus headroom. */
  size: number | 'auto';
  /**
   * A digest of the input; UUID and hash seed derive from it unless `uuid` is given. A
   * function is called only in finish(), for inputs whose digest is known once read.
   */
  contentKey: string | (() => string);
  uuid?: string;
  /** The time stamped on what the tool invents (superblock, lost+found, …). */
  time: Timestamp;
  label?: string;
}

export interface ImageSummary {
  path: string;
  sizeBytes: number;
  blockCount: number;
  freeBlocks: number;
  inodeCount: number;
  freeInodes: number;
  usedBytes: number;
  uuid: string;
  journalBlocks: number;
}

/** Auto size: the minimum plus this share of it plus a fixed margin, rounded up to MiB. */
export const AUTO_HEADROOM = { fraction: 0.2, mib: 32 } as const;
/** Provisional size for 'auto' while data streams in (only the backup zones depend on it). */
const AUTO_PROVISIONAL_BLOCKS = 1024 * 1024 * BLOCKS_PER_MIB; // 1 TiB

/** Where a regular file's blocks are in the image. */
export class Ext4Content implements FileContent {
  readonly extents = new ExtentList();
  released = false;
  constructor(readonly size: number) {}
}

export class Ext4Writer implements DataSink {
  private readonly allocator: BlockAllocator;
  private dataBytes = 0;

  private constructor(
    private readonly file: ImageFile,
    private readonly options: WriterOptions,
    readonly zones: Geometry,
  ) {
    this.allocator = new BlockAllocator(zones, zones.blockCount);
  }

  static async create(path: string, options: WriterOptions): Promise<Ext4Writer> {
    const blocks = options.size === 'auto' ? AUTO_PROVISIONAL_BLOCKS : options.size * BLOCKS_PER_MIB;
    if (!Number.isInteger(blocks) || blocks < 2 * BLOCKS_PER_MIB || blocks > MAX_BLOCKS) {
      throw new InfraError('USAGE', `--size must be a whole number of MB between 2 and ${Math.floor(MAX_BLOCKS / BLOCKS_PER_MIB)}, or auto.`);
    }
    return new Ext4Writer(await ImageFile.create(path), options, geometryFor(blocks));
  }

  /** Bytes of file data (before holes) received so far. */
  get bytesWritten(): number {
    return this.dataBytes;
  }

  async writeFile(body: AsyncIterable<Buffer>, size: number, sparse?: readonly SparseRegion[]): Promise<FileContent> {
    const content = new Ext4Content(size);
    const assembler = new BlockAssembler(this, content);
    if (sparse) {
      for await (const [pos, bytes] of placeSparse(body, sparse)) await assembler.put(pos, bytes);
    } else {
      let pos = 0;
      for await (const chunk of body) {
        await assembler.put(pos, chunk);
        pos += chunk.length;
      }
    }
    await assembler.end();
    this.dataBytes += size;
    return content;
  }

  async writeBuffer(data: Buffer): Promise<FileContent> {
    return this.writeFile(once(data), data.length);
  }

  release(content: FileContent): void {
    const c = content as Ext4Content;
    if (c.released) return;
    c.released = true;
    for (const e of c.extents.extents()) this.allocator.release(e.physical, e.length);
  }

  /**
   * Stores whole blocks of a file starting at logical block `logical`: runs of non-zero
   * blocks go to contiguous disk blocks in one write; all-zero blocks become holes.
   */
  async storeBlocks(content: Ext4Content, logical: number, data: Buffer): Promise<void> {
    const count = data.length / BLOCK_SIZE;
    let i = 0;
    while (i < count) {
      if (isZero(data, i * BLOCK_SIZE, BLOCK_SIZE)) {
        i++;
        continue;
      }
      let end = i + 1;
      while (end < count && !isZero(data, end * BLOCK_SIZE, BLOCK_SIZE)) end++;
      while (i < end) {
        const [physical, length] = this.allocator.dataRun(end - i);
        // When the image is full, keep counting: finish() fails with the minimum size.
        if (physical >= 0) {
          content.extents.add(logical + i, physical, length);
          await this.file.write(physical, data.subarray(i * BLOCK_SIZE, (i + length) * BLOCK_SIZE));
        }
        i += length;
      }
    }
  }

  /** Lays out and writes all metadata, then renames the image into place. */
  async finish(root: DirInode): Promise<ImageSummary> {
    try {
      const tree = numberTree(root, this.options.time);
      const id = this.identity();
      const needs = measure(tree, this.allocator, seedWords(id.hashSeed));
      const blockCount = this.finalBlockCount(needs);
      const layout = planLayout(tree, needs, this.allocator, geometryFor(blockCount));
      if (!layout) throw tooSmall(this.options.size as number, minimumMiB(needs));
      const summary = await writeMetadata(this.file, tree, layout, this.allocator, id);
      await this.file.commit(blockCount * BLOCK_SIZE);
      return { ...summary, path: this.file.finalPath };
    } catch (err) {
      await this.file.discard();
      throw err;
    }
  }

  async abort(): Promise<void> {
    await this.file.discard();
  }

  private finalBlockCount(needs: Needs): number {
    const minimum = minimumMiB(needs);
    if (this.options.size === 'auto') {
      const mib = Math.ceil(minimum * (1 + AUTO_HEADROOM.fraction)) + AUTO_HEADROOM.mib;
      return mib * BLOCKS_PER_MIB;
    }
    if (this.allocator.overflow > 0 || minimum > this.options.size) throw tooSmall(this.options.size, minimum);
    return this.zones.blockCount;
  }

  private identity(): { uuid: Buffer; hashSeed: Buffer; time: Timestamp; label: string } {
    const key = typeof this.options.contentKey === 'function' ? this.options.contentKey() : this.options.contentKey;
    const seed = createHash('sha256').update(`infra.operator ext4 v1\0${key}`).digest();
    const uuid = this.options.uuid ? parseUuid(this.options.uuid) : uuidFrom(seed.subarray(0, 16));
    return { uuid, hashSeed: Buffer.from(seed.subarray(16, 32)), time: this.options.time, label: this.options.label ?? '' };
  }
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

function tooSmall(requested: number, minimum: number): InfraError {
  return new InfraError(
    'SIZE',
    `The image does not fit in ${requested} MB: it needs at least ${minimum} MB. Rerun with --size ${minimum} or more (leave room for what the VM writes), or --size auto.`,
  );
}

/** A random-looking version 4 UUID from hash bytes (RFC 4122 version and variant bits). */
function uuidFrom(bytes: Buffer): Buffer {
  const uuid = Buffer.from(bytes);
  uuid[6] = (uuid[6]! & 0x0f) | 0x40;
  uuid[8] = (uuid[8]! & 0x3f) | 0x80;
  return uuid;
}

function parseUuid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex) || /^0+$/.test(hex)) {
    throw new InfraError('USAGE', `--uuid '${text}' is not a non-zero UUID (like 0b0e2c0a-9c34-4bd5-9c70-3d1f8e5b2a11).`);
  }
  return Buffer.from(hex, 'hex');
}

/** Collects a file's bytes into blocks in logical order (positions only grow). */
class BlockAssembler {
  private partial: Buffer | undefined;
  private partialBlock = -1;

  constructor(
    private readonly writer: Ext4Writer,
    private readonly content: Ext4Content,
  ) {}

  async put(pos: number, bytes: Buffer): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const at = pos + off;
      const logical = Math.floor(at / BLOCK_SIZE);
      const inBlock = at - logical * BLOCK_SIZE;
      if (this.partial && this.partialBlock !== logical) await this.flushPartial();
      if (inBlock === 0 && !this.partial && bytes.length - off >= BLOCK_SIZE) {
        const whole = Math.floor((bytes.length - off) / BLOCK_SIZE);
        await this.writer.storeBlocks(this.content, logical, bytes.subarray(off, off + whole * BLOCK_SIZE));
        off += whole * BLOCK_SIZE;
        continue;
      }
      if (!this.partial) {
        this.partial = Buffer.alloc(BLOCK_SIZE);
        this.partialBlock = logical;
      }
      const take = Math.min(BLOCK_SIZE - inBlock, bytes.length - off);
      bytes.copy(this.partial, inBlock, off, off + take);
      off += take;
      if (inBlock + take === BLOCK_SIZE) await this.flushPartial();
    }
  }

  async end(): Promise<void> {
    if (this.partial) await this.flushPartial();
  }

  private async flushPartial(): Promise<void> {
    const block = this.partial!;
    this.partial = undefined;
    await this.writer.storeBlocks(this.content, this.partialBlock, block);
  }
}

/** Maps the stored bytes of a sparse file onto (file offset, bytes) pieces. */
async function* placeSparse(body: AsyncIterable<Buffer>, regions: readonly SparseRegion[]): AsyncGenerator<[number, Buffer]> {
  let index = 0;
  let within = 0;
  for await (let chunk of body) {
    while (chunk.length > 0) {
      while (index < regions.length && within >= regions[index]!.length) {
        index++;
        within = 0;
      }
      const region = regions[index];
      if (!region) throw new InfraError('TAR', 'A sparse file holds more data than its sparse map describes: the archive is damaged.');
      const take = Math.min(region.length - within, chunk.length);
      yield [region.offset + within, chunk.subarray(0, take)];
      within += take;
      chunk = chunk.subarray(take);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Numbering: inode numbers, link counts and directory records from the tree.

export interface NumberedInode {
  ino: number;
  inode: Inode;
  links: number;
  /** Directory records ('.', '..', children) for directories. */
  records?: DirRecord[];
  /** Minimum directory blocks (lost+found is pre-sized like mke2fs's). */
  minBlocks?: number;
}

export interface NumberedTree {
  /** Index i holds inode number FIRST + i (lost+found first), root separately. */
  root: NumberedInode;
  others: NumberedInode[];
  time: Timestamp;
}

const FILE_TYPE: Record<Inode['kind'], number> = {
  file: FT.REG,
  dir: FT.DIR,
  symlink: FT.LNK,
  char: FT.CHR,
  block: FT.BLK,
  fifo: FT.FIFO,
  socket: FT.SOCK,
};
const LOST_FOUND = 'lost+found';
/** mke2fs makes lost+found 16 KiB so e2fsck can reconnect files without allocating. */
const LOST_FOUND_BLOCKS = 4;

function numberTree(root: DirInode, time: Timestamp): NumberedTree {
  ensureLostFound(root, time);
  const numbers = new Map<Inode, NumberedInode>();
  const rootEntry: NumberedInode = { ino: INO.ROOT, inode: root, links: 0 };
  numbers.set(root, rootEntry);
  const others: NumberedInode[] = [];
  const number = (inode: Inode): NumberedInode => {
    let entry = numbers.get(inode);
    if (!entry) {
      entry = { ino: INO.FIRST + others.length, inode, links: 0 };
      numbers.set(inode, entry);
      others.push(entry);
    }
    return entry;
  };
  const named = new Set<Inode>();
  const assign = (inode: Inode): NumberedInode => {
    if (inode.kind === 'dir' && named.has(inode)) {
      throw new InfraError('LAYER', 'The same directory appears under two names (a hard link to a directory); ext4 cannot store that.');
    }
    named.add(inode);
    return number(inode);
  };
  number(root.children.get(LOST_FOUND)!); // inode 11, as mke2fs makes it
  // Depth-first in name order: deterministic numbers, and a directory's inodes stay close.
  const stack: Array<[DirInode, NumberedInode, NumberedInode]> = [[root, rootEntry, rootEntry]];
  while (stack.length > 0) {
    const [dir, self, parent] = stack.pop()!;
    const names = [...dir.children.keys()].sort();
    const records: DirRecord[] = [dot('.', self.ino), dot('..', parent.ino)];
    let subdirs = 0;
    const childDirs: Array<[DirInode, NumberedInode]> = [];
    for (const name of names) {
      const child = dir.children.get(name)!;
      const nameBytes = Buffer.from(name, 'latin1');
      if (nameBytes.length === 0 || nameBytes.length > MAX_NAME_LEN || nameBytes.includes(0x2f) || nameBytes.includes(0)) {
        throw new InfraError('LAYER', `The name '${printable(name)}' cannot be stored in ext4 (1 to 255 bytes, no '/' or NUL).`);
      }
      const entry = assign(child);
      entry.links++;
      records.push({ name: nameBytes, inode: entry.ino, fileType: FILE_TYPE[child.kind] });
      if (child.kind === 'dir') {
        subdirs++;
        childDirs.push([child, entry]);
      }
    }
    self.records = records;
    self.links = 2 + subdirs > EXT4_LINK_MAX ? 1 : 2 + subdirs;
    if (dir === root.children.get(LOST_FOUND)) self.minBlocks = LOST_FOUND_BLOCKS;
    for (let i = childDirs.length - 1; i >= 0; i--) stack.push([childDirs[i]![0], childDirs[i]![1], self]);
  }
  return { root: rootEntry, others, time };
}

function dot(name: string, ino: number): DirRecord {
  return { name: Buffer.from(name), inode: ino, fileType: FT.DIR };
}

function ensureLostFound(root: DirInode, time: Timestamp): void {
  const existing = root.children.get(LOST_FOUND);
  if (existing?.kind === 'dir') return;
  root.children.set(LOST_FOUND, {
    kind: 'dir',
    mode: 0o700,
    uid: 0,
    gid: 0,
    atime: time,
    mtime: time,
    ctime: time,
    xattrs: new Map(),
    children: new Map(),
  });
}

// ---------------------------------------------------------------------------------------
// Measuring: blocks each inode needs beyond its file data.

function directoryBlocks(records: DirRecord[], minBlocks = 1): number {
  let blocks = 1;
  let used = 0;
  for (const r of records) {
    const len = recordLength(r.name.length);
    if (used + len > BLOCK_SIZE) {
      blocks++;
      used = 0;
    }
    used += len;
  }
  return Math.max(blocks, minBlocks);
}

/** Per-inode extra blocks and xattr placement, computed once and used by layout and writing. */
export interface InodePlan {
  dirBlocks: number;
  /** Directories that outgrow one block get an htree index. */
  htree?: HtreePlan;
  symlinkBlock: boolean;
  xattrs: XattrLayout;
  /** Extent tree blocks for file data (directories get theirs once placed). */
  treeBlocks: number;
}

function measure(tree: NumberedTree, allocator: BlockAllocator, seed: Uint32Array): Needs {
  const plans = new Map<number, InodePlan>();
  let metaBlocks = 0;
  let dataBlocks = allocator.overflow;
  for (const n of [tree.root, ...tree.others]) {
    const inode = n.inode;
    const linear = n.records ? directoryBlocks(n.records, n.minBlocks) : 0;
    const htree = linear > 1 && n.minBlocks === undefined ? planHtree(n.records!.slice(2), seed) : undefined;
    const plan: InodePlan = {
      dirBlocks: htree ? htree.blockCount : linear,
      ...(htree ? { htree } : {}),
      symlinkBlock: inode.kind === 'symlink' && Buffer.byteLength(inode.target, 'latin1') >= I_BLOCK_SIZE,
      xattrs: layoutXattrs(inode.xattrs, `inode ${n.ino}`),
      treeBlocks: inode.kind === 'file' ? treeBlocksFor((inode.content as Ext4Content).extents.count) : 0,
    };
    if (inode.kind === 'symlink' && Buffer.byteLength(inode.target, 'latin1') >= BLOCK_SIZE) {
      throw new InfraError('LAYER', `A symlink target is ${Buffer.byteLength(inode.target, 'latin1')} bytes; ext4 allows at most ${BLOCK_SIZE - 1}.`);
    }
    if (inode.kind === 'file') dataBlocks += (inode.content as Ext4Content).extents.blocks;
    // Directories of more than 4 extents are rare (blocks are placed together); count a leaf.
    metaBlocks += plan.dirBlocks + (plan.dirBlocks > 0 ? treeBlocksFor(Math.ceil(plan.dirBlocks / 1024)) : 0);
    metaBlocks += (plan.symlinkBlock ? 1 : 0) + (plan.xattrs.inBlock.length > 0 ? 1 : 0) + plan.treeBlocks;
    plans.set(n.ino, plan);
  }
  return { plans, dataBlocks, metaBlocks, inodesUsed: INO.FIRST - 1 + tree.others.length };
}


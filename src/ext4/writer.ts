/**
 * The ext4 writer, gluing its phases: while layers are applied it is the `DataSink`
 * (data.ts places file bytes in data blocks); when the tree is final, `finish` plans
 * (planning.ts numbers and measures, layout.ts places metadata in the space after the
 * data, which flex_bg allows) and writes the metadata (metadata.ts).
 */
import { InfraError } from '../errors.js';
import type { DataSink, DirInode, SparseRegion, Timestamp } from '../tree/tree.js';
import { BlockAllocator } from './allocator.js';
import { DataPlacement } from './data.js';
import { BLOCK_SIZE } from './format.js';
import { type Geometry, geometryFor } from './geometry.js';
import { seedWords } from './htree.js';
import { identityFor } from './identity.js';
import { OutputFile } from './output-file.js';
import { minimumMiB, planLayout } from './layout.js';
import { writeMetadata } from './metadata.js';
import { measure, numberTree } from './planning.js';
import { type RootfsSize, parseRootfsSize, sizeBlocks } from './size.js';
import type { Ext4Content, Ext4Summary, Needs } from './types.js';

export type { Ext4Content, Ext4Summary } from './types.js';

export interface WriterOptions {
  /** Image size in MiB (1 MiB = 1,048,576 bytes), or 'auto': what fits plus headroom. */
  size: RootfsSize;
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

/** Auto size: the minimum plus this share of it plus a fixed margin, rounded up to MiB. */
export const AUTO_HEADROOM = { fraction: 0.2, mib: 32 } as const;
/** Provisional size for 'auto' while data streams in (only the backup zones depend on it). */
const AUTO_PROVISIONAL_BLOCKS = sizeBlocks(1024 * 1024); // 1 TiB

export class Ext4Writer implements DataSink<Ext4Content> {
  private readonly allocator: BlockAllocator;
  private readonly data: DataPlacement;

  private constructor(
    private readonly file: OutputFile,
    private readonly options: WriterOptions,
    /** The geometry of the requested size, whose backup zones data placement skips. */
    private readonly zones: Geometry,
  ) {
    this.allocator = new BlockAllocator(zones, zones.blockCount);
    this.data = new DataPlacement(file, this.allocator);
  }

  static async create(path: string, options: WriterOptions): Promise<Ext4Writer> {
    const size = parseRootfsSize(options.size);
    const blocks = size === 'auto' ? AUTO_PROVISIONAL_BLOCKS : sizeBlocks(size);
    return new Ext4Writer(await OutputFile.create(path), options, geometryFor(blocks));
  }

  /** Bytes of file data (before holes) received so far. */
  get bytesWritten(): number {
    return this.data.bytesWritten;
  }

  writeFile(body: AsyncIterable<Buffer>, size: number, sparse?: readonly SparseRegion[]): Promise<Ext4Content> {
    return this.data.writeFile(body, size, sparse);
  }

  writeBuffer(data: Buffer): Promise<Ext4Content> {
    return this.data.writeBuffer(data);
  }

  release(content: Ext4Content): void {
    this.data.release(content);
  }

  /** Lays out and writes all metadata, then renames the image into place; its chunked sha256 comes with the summary. */
  async finish(root: DirInode): Promise<Ext4Summary> {
    try {
      const tree = numberTree(root, this.options.time);
      const key = typeof this.options.contentKey === 'function' ? this.options.contentKey() : this.options.contentKey;
      const id = identityFor({ ...this.options, contentKey: key });
      const needs = measure(tree, this.allocator, seedWords(id.hashSeed));
      const blockCount = this.finalBlockCount(needs);
      const layout = planLayout(tree, needs, this.allocator, geometryFor(blockCount));
      if (!layout) throw tooSmall(this.options.size as number, minimumMiB(needs));
      const summary = await writeMetadata(this.file, tree, layout, this.allocator, id);
      const digest = await this.file.commit(blockCount * BLOCK_SIZE);
      return { ...summary, path: this.file.finalPath, chunkedSha256: digest.sha256 };
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
      return sizeBlocks(mib);
    }
    if (this.allocator.overflow > 0 || minimum > this.options.size) throw tooSmall(this.options.size, minimum);
    return this.zones.blockCount;
  }
}

function tooSmall(requested: number, minimum: number): InfraError {
  return new InfraError('SIZE', `The image does not fit in ${requested} MB: it needs at least ${minimum} MB.`, {
    option: 'size',
    hint: `rerun with {size} ${minimum} or more (leave room for what the VM writes), or {size} auto`,
  });
}

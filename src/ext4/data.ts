/**
 * Data placement, while layers are applied: the `DataSink` that cuts file bytes into 4 KiB
 * blocks and writes them straight to the next free blocks of the image. All-zero blocks
 * become holes; runs of blocks go out in one write; released files' blocks are reused.
 */
import { InfraError } from '../errors.js';
import { isZero } from '../io/zero.js';
import type { DataSink, SparseRegion } from '../tree/tree.js';
import type { BlockAllocator } from './allocator.js';
import { BLOCK_SIZE } from './format.js';
import type { OutputFile } from './output-file.js';
import { Ext4Content } from './types.js';


export class DataPlacement implements DataSink<Ext4Content> {
  private dataBytes = 0;

  constructor(
    private readonly file: OutputFile,
    private readonly allocator: BlockAllocator,
  ) {}

  /** Bytes of file data (before holes) received so far. */
  get bytesWritten(): number {
    return this.dataBytes;
  }

  async writeFile(body: AsyncIterable<Buffer>, size: number, sparse?: readonly SparseRegion[]): Promise<Ext4Content> {
    const content = new Ext4Content(size);
    const assembler = new BlockAssembler((logical, data) => this.storeBlocks(content, logical, data));
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

  async writeBuffer(data: Buffer): Promise<Ext4Content> {
    return this.writeFile(once(data), data.length);
  }

  release(content: Ext4Content): void {
    if (content.released) return;
    content.released = true;
    for (const e of content.extents.extents()) this.allocator.release(e.physical, e.length);
  }

  /**
   * Stores whole blocks of a file starting at logical block `logical`: runs of non-zero
   * blocks go to contiguous disk blocks in one write; all-zero blocks become holes.
   */
  private async storeBlocks(content: Ext4Content, logical: number, data: Buffer): Promise<void> {
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
}


async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

/** Takes whole blocks of a file: the logical block of the first, and their bytes. */
type StoreBlocks = (logical: number, data: Buffer) => Promise<void>;

/** Collects a file's bytes into blocks in logical order (positions only grow). */
class BlockAssembler {
  private partial: Buffer | undefined;
  private partialBlock = -1;

  constructor(private readonly store: StoreBlocks) {}

  async put(pos: number, bytes: Buffer): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const at = pos + off;
      const logical = Math.floor(at / BLOCK_SIZE);
      const inBlock = at - logical * BLOCK_SIZE;
      if (this.partial && this.partialBlock !== logical) await this.flushPartial();
      if (inBlock === 0 && !this.partial && bytes.length - off >= BLOCK_SIZE) {
        const whole = Math.floor((bytes.length - off) / BLOCK_SIZE);
        await this.store(logical, bytes.subarray(off, off + whole * BLOCK_SIZE));
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
    await this.store(this.partialBlock, block);
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

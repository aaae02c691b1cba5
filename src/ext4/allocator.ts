/**
 * Block allocation while the tree streams in: blocks are handed out in ascending order
 * (so data lands sequentially and the file stays sparse behind it), skipping the
 * superblock/descriptor copies of the backup groups. Blocks released when a later layer
 * replaces a file are reused for file data first.
 */
import { BLOCKS_PER_GROUP } from './format.js';
import { type Geometry, reservedRun } from './geometry.js';

export class BlockAllocator {
  /** Next never-used block. */
  private next = 0;
  private readonly released: number[] = []; // (start, length) pairs
  /** Blocks asked for beyond `limit`: counted, not placed (the image is too small). */
  overflow = 0;
  private readonly zoneStarts: number[];
  private readonly zoneLength: number;
  private zoneIndex = 0;

  /** `zones` fixes the reserved places; `limit` is the number of usable blocks. */
  constructor(zones: Geometry, public limit: number) {
    this.zoneStarts = zones.backupGroups.map((g) => g * BLOCKS_PER_GROUP);
    this.zoneLength = reservedRun(zones);
    this.skipZones();
  }

  /** High-water mark: every block at or above it is untouched. */
  get highWater(): number {
    return this.next;
  }

  isReserved(block: number): boolean {
    const g = Math.floor(block / BLOCKS_PER_GROUP);
    return block - g * BLOCKS_PER_GROUP < this.zoneLength && this.zoneStarts.includes(g * BLOCKS_PER_GROUP);
  }

  private skipZones(): void {
    while (this.zoneIndex < this.zoneStarts.length && this.next >= this.zoneStarts[this.zoneIndex]!) {
      const end = this.zoneStarts[this.zoneIndex]! + this.zoneLength;
      if (this.next < end) this.next = end;
      this.zoneIndex++;
    }
  }

  /**
   * Up to `wanted` contiguous blocks for file data: released blocks first, then fresh
   * ones. Returns [start, length], or [-1, wanted] when the image is full (the blocks are
   * counted in `overflow`).
   */
  dataRun(wanted: number): [start: number, length: number] {
    const r = this.released;
    if (r.length > 0) {
      const start = r[r.length - 2]!;
      const length = Math.min(wanted, r[r.length - 1]!);
      if ((r[r.length - 1]! -= length) === 0) r.length -= 2;
      else r[r.length - 2]! += length;
      return [start, length];
    }
    if (this.next >= this.limit) {
      this.overflow += wanted;
      return [-1, wanted];
    }
    const zone = this.zoneStarts[this.zoneIndex] ?? Infinity;
    const start = this.next;
    const length = Math.min(wanted, this.limit - start, zone - start);
    this.next += length;
    this.skipZones();
    return [start, length];
  }

  private fresh(): number {
    if (this.next >= this.limit) {
      this.overflow++;
      return -1;
    }
    const block = this.next++;
    if (this.zoneIndex < this.zoneStarts.length && this.next >= this.zoneStarts[this.zoneIndex]!) this.skipZones();
    return block;
  }

  /** `length` fresh blocks (for metadata: they are known to read as zeros), as runs. */
  freshRuns(length: number): Array<[start: number, length: number]> {
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < length; i++) {
      const b = this.fresh();
      if (b < 0) continue;
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === b) last[1]++;
      else runs.push([b, 1]);
    }
    return runs;
  }

  /** `length` contiguous fresh blocks (an inode table), or -1 when they do not fit. */
  contiguous(length: number): number {
    for (;;) {
      const start = this.next;
      if (start + length > this.limit) {
        this.overflow += length;
        return -1;
      }
      const zone = this.zoneStarts[this.zoneIndex];
      if (zone === undefined || start + length <= zone) {
        this.next = start + length;
        this.skipZones();
        return start;
      }
      this.next = zone;
      this.skipZones();
    }
  }

  release(start: number, length: number): void {
    this.released.push(start, length);
  }

  /** Released blocks never reused: they must be zeroed (they hold deleted data) and left free. */
  leftovers(): Array<[start: number, length: number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.released.length; i += 2) out.push([this.released[i]!, this.released[i + 1]!]);
    return out;
  }
}

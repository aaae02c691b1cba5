/**
 * An in-memory DataSink (a test double of the interface the ext4 writer implements): keeps
 * file bytes in Buffers and checks releases, so tests can assert that every content is
 * released exactly once, only when no name in the tree references it any more.
 *
 * A tree loaded from a host directory (see loadTree in boot.ts) refers to the host's files
 * instead (`hostFile`): those are not the sink's, and releasing one only records it.
 */
import { readFileSync } from 'node:fs';
import type { DataSink, DirInode, FileContent, SparseRegion } from '../../src/tree/tree.js';

export interface MemoryContent extends FileContent {
  readonly id: number;
  /** The stored bytes (for a sparse file, the regions' bytes back to back). */
  readonly stored: Buffer;
  readonly sparse?: readonly SparseRegion[];
}

/** A file's bytes left in a host file, read when asked for. */
export interface HostContent extends FileContent {
  readonly source: string;
}

export function hostFile(source: string, size: number): HostContent {
  return { size, source };
}

export function isHostContent(content: FileContent): content is HostContent {
  return typeof (content as Partial<HostContent>).source === 'string';
}

/** The apparent bytes of a content of a MemorySink, or of a host file: sparse regions placed, holes as zeros. */
export function contentBytes(content: FileContent): Buffer {
  if (isHostContent(content)) return readFileSync(content.source);
  const { stored, sparse, size } = content as MemoryContent;
  if (!sparse) return stored;
  const out = Buffer.alloc(size);
  let from = 0;
  for (const region of sparse) {
    stored.copy(out, region.offset, from, from + region.length);
    from += region.length;
  }
  return out;
}

export class MemorySink implements DataSink {
  private nextId = 1;
  private readonly live = new Set<MemoryContent>();
  /** In release order. */
  readonly released: FileContent[] = [];

  async writeFile(body: AsyncIterable<Buffer>, size: number, sparse?: readonly SparseRegion[]): Promise<FileContent> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk));
    const stored = Buffer.concat(chunks);
    const expected = sparse ? sparse.reduce((sum, r) => sum + r.length, 0) : size;
    if (stored.length !== expected) throw new Error(`MemorySink: body has ${stored.length} bytes, expected ${expected}`);
    return this.keep({ id: this.nextId++, size, stored, ...(sparse && { sparse }) });
  }

  async writeBuffer(data: Buffer): Promise<FileContent> {
    return this.keep({ id: this.nextId++, size: data.length, stored: Buffer.from(data) });
  }

  release(content: FileContent): void {
    if (isHostContent(content)) {
      this.released.push(content);
      return;
    }
    const known = content as MemoryContent;
    if (!this.live.has(known)) throw new Error(`MemorySink: release of content ${known.id} that is not live (released twice?)`);
    this.live.delete(known);
    this.released.push(known);
  }

  /** The file's apparent bytes: sparse regions placed, holes as zeros. */
  bytes(content: FileContent): Buffer {
    return contentBytes(content);
  }

  /** `length` apparent bytes from `offset`, without materialising a huge sparse file. */
  slice(content: FileContent, offset: number, length: number): Buffer {
    if (isHostContent(content)) return contentBytes(content).subarray(offset, offset + length);
    const { stored, sparse } = content as MemoryContent;
    if (!sparse) return stored.subarray(offset, offset + length);
    const out = Buffer.alloc(length);
    let from = 0;
    for (const region of sparse) {
      const start = Math.max(region.offset, offset);
      const end = Math.min(region.offset + region.length, offset + length);
      if (start < end) stored.copy(out, start - offset, from + (start - region.offset), from + (end - region.offset));
      from += region.length;
    }
    return out;
  }

  text(content: FileContent): string {
    return contentBytes(content).toString('latin1');
  }

  liveCount(): number {
    return this.live.size;
  }

  /**
   * Problems in the bookkeeping between this sink and `root`: a content in the tree that
   * was released, or a live content that no name in the tree references (a leak).
   */
  accountingProblems(root: DirInode): string[] {
    const inTree = new Set<MemoryContent>();
    const pending: DirInode[] = [root];
    while (pending.length > 0) {
      for (const child of pending.pop()!.children.values()) {
        if (child.kind === 'dir') pending.push(child);
        else if (child.kind === 'file' && !isHostContent(child.content)) inTree.add(child.content as MemoryContent);
      }
    }
    const problems: string[] = [];
    for (const content of inTree) if (!this.live.has(content)) problems.push(`content ${content.id} in the tree but released`);
    for (const content of this.live) if (!inTree.has(content)) problems.push(`content ${content.id} live but not in the tree`);
    return problems;
  }

  private keep(content: MemoryContent): MemoryContent {
    this.live.add(content);
    return content;
  }
}

/**
 * Pull-based reading of exact byte counts from an async stream of chunks; nothing is read
 * ahead beyond the chunk in hand.
 *
 * Two kinds of result, so that no caller can keep a view by accident: `read` returns bytes
 * the caller owns (headers, small records: a copy is cheap), `next` returns a view into the
 * input chunk that is valid only until the next call on this reader (file bodies, streamed
 * on at once). Sources recycle their chunks (see `readFileRange`): a view kept longer may
 * change under its holder.
 */

const EMPTY = Buffer.alloc(0);

export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private chunk: Buffer = EMPTY;
  private offset = 0;
  private ended = false;
  /** Bytes handed out or skipped so far: the offset of the next byte in the stream. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /**
   * Up to `max` bytes from the chunk in hand (pulling one if needed); undefined at EOF.
   * A view, valid only until the next call on this reader: copy what must live longer.
   */
  async next(max: number): Promise<Buffer | undefined> {
    if (this.offset === this.chunk.length && !(await this.pull())) return undefined;
    const end = Math.min(this.chunk.length, this.offset + max);
    const piece = this.chunk.subarray(this.offset, end);
    this.offset = end;
    this.position += piece.length;
    return piece;
  }

  /** Exactly `n` bytes, or fewer only when the stream ends first; the caller owns them. */
  async read(n: number): Promise<Buffer> {
    const first = await this.next(n);
    if (first === undefined) return EMPTY;
    if (first.length === n) return Buffer.from(first);
    const pieces = [Buffer.from(first)];
    let have = first.length;
    while (have < n) {
      const piece = await this.next(n - have);
      if (piece === undefined) break;
      pieces.push(Buffer.from(piece));
      have += piece.length;
    }
    return Buffer.concat(pieces, have);
  }

  /** Discards `n` bytes; returns how many were there (fewer only at EOF). */
  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n) {
      const piece = await this.next(n - skipped);
      if (piece === undefined) break;
      skipped += piece.length;
    }
    return skipped;
  }

  /** Reads to the end of the stream, so that anything digesting it sees every byte. */
  async drain(): Promise<void> {
    while ((await this.next(Number.MAX_SAFE_INTEGER)) !== undefined) {
      // discard
    }
  }

  /** Stops the source early (releases its resources); a no-op once it has ended. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.iterator.return?.();
  }

  private async pull(): Promise<boolean> {
    while (!this.ended) {
      const result = await this.iterator.next();
      if (result.done) {
        this.ended = true;
        break;
      }
      const value = result.value;
      if (value.length === 0) continue;
      this.chunk = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.length);
      this.offset = 0;
      return true;
    }
    this.chunk = EMPTY;
    this.offset = 0;
    return false;
  }
}

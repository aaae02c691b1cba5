/**
 * The image file being written: a sparse file under a temporary name beside the target
 * (src/io/temp.ts), renamed into place only when complete. Writes to consecutive blocks
 * are copied into one reused buffer and issued as one large write (input chunks may be
 * recycled by their producer, and reused memory is cheap where fresh memory page-faults);
 * blocks never written stay holes. Every write also feeds the image's chunked sha256
 * (src/io/digest.ts), so the finished image is not read back to hash it.
 */
import { writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { InfraError } from '../errors.js';
import { type ChunkedDigest, WrittenFileDigest } from '../io/digest.js';
import { fsError, type FsErrorContext } from '../io/fs-errors.js';
import { sweepStaleTemporaries, TemporaryFile } from '../io/temp.js';
import { BLOCK_SIZE } from './format.js';

const COMBINE_BYTES = 8 * 1024 * 1024;

export class OutputFile {
  private readonly buffer = Buffer.allocUnsafe(COMBINE_BYTES);
  private runStart = -1;
  private runBytes = 0;
  private readonly digest = new WrittenFileDigest();

  private constructor(private readonly file: TemporaryFile) {}

  /** Opens the temporary file, after removing those that dead processes of this host left beside it. */
  static async create(finalPath: string): Promise<OutputFile> {
    await sweepStaleTemporaries(dirname(finalPath));
    try {
      return new OutputFile(await TemporaryFile.create(finalPath));
    } catch (err) {
      throw diskError(err, dirname(finalPath));
    }
  }

  get finalPath(): string {
    return this.file.finalPath;
  }

  /** Writes whole blocks starting at block `block`. `data.length` is a multiple of the block size. */
  async write(block: number, data: Buffer): Promise<void> {
    const position = block * BLOCK_SIZE;
    if (this.runStart >= 0 && this.runStart + this.runBytes === position && this.runBytes + data.length <= COMBINE_BYTES) {
      data.copy(this.buffer, this.runBytes);
      this.runBytes += data.length;
      return;
    }
    await this.flush();
    if (data.length >= COMBINE_BYTES) {
      await this.pwrite(data, position);
      return;
    }
    data.copy(this.buffer, 0);
    this.runStart = position;
    this.runBytes = data.length;
  }

  async flush(): Promise<void> {
    if (this.runBytes > 0) await this.pwrite(this.buffer.subarray(0, this.runBytes), this.runStart);
    this.runStart = -1;
    this.runBytes = 0;
  }

  // Synchronous on purpose: writes land in the page cache, and a thread-pool round trip
  // per write costs more than the copy itself on a busy machine.
  private async pwrite(data: Buffer, position: number): Promise<void> {
    await this.digest.written(position, data);
    try {
      for (let done = 0; done < data.length; ) done += writeSync(this.file.handle.fd, data, done, data.length - done, position + done);
    } catch (err) {
      throw diskError(err, dirname(this.finalPath));
    }
  }

  /**
   * Sets the final length (extending with a hole), closes and renames into place; the
   * chunked sha256 of what was written.
   */
  async commit(byteLength: number): Promise<ChunkedDigest> {
    await this.flush();
    try {
      await this.file.handle.truncate(byteLength);
      const digest = await this.digest.digest(this.file.path, byteLength);
      await this.file.handle.sync();
      await this.file.commit();
      return digest;
    } catch (err) {
      await this.discard();
      throw diskError(err, dirname(this.finalPath));
    }
  }

  /** Removes the temporary file; nothing is left at the target. */
  discard(): Promise<void> {
    return this.file.discard();
  }
}

/** What to do when the image cannot be written where it goes. */
const WRITE_ADVICE: FsErrorContext['advice'] = {
  denied: 'run with sudo, choose another place with {output}, or set INFRA_OPERATOR_IMAGES_DIR',
  full: 'free some space there or write elsewhere with {output}',
  other: 'choose another place with {output} or INFRA_OPERATOR_IMAGES_DIR',
};

function diskError(err: unknown, dir: string): InfraError {
  return fsError(err, { path: dir, action: 'write', what: 'the image in', advice: WRITE_ADVICE, option: 'output' });
}

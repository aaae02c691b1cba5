import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { InfraError } from '../errors.js';

const CHUNK = 4 * 1024 * 1024;

/**
 * Hex sha256 of a file (holes of a sparse file read as zeros, as S3 stores them). One
 * reused buffer and synchronous reads: hashing is the cost, not thread-pool round trips.
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    for (let n; (n = readSync(fd, buffer, 0, CHUNK, null)) > 0; ) hash.update(n === CHUNK ? buffer : buffer.subarray(0, n));
  } catch (err) {
    throw new InfraError('DISK', `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return hash.digest('hex');
}

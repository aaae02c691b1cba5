import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { InfraError } from '../errors.js';

/** Hex sha256 of a file, streamed (holes of a sparse file read as zeros, as S3 stores them). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } catch (err) {
    throw new InfraError('DISK', `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return hash.digest('hex');
}

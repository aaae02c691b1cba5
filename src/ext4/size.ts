/**
 * The image size, parsed once wherever it enters (the CLI's `--size`, the library's
 * `size`): a whole number of MiB the writer can lay out, or 'auto' (what fits, plus
 * headroom). Everything past the edge takes an RootfsSize and converts with `sizeBytes`.
 */
import { InfraError } from '../errors.js';
import { BLOCKS_PER_MIB, MAX_BLOCKS, MIB } from './geometry.js';

export type RootfsSize = number | 'auto';

/** Fewer blocks than this cannot hold the fixed metadata and a journal. */
export const MIN_SIZE_MIB = 2;
/** ext4 without the 64bit feature addresses 2^32 blocks. */
export const MAX_SIZE_MIB = Math.floor(MAX_BLOCKS / BLOCKS_PER_MIB);

/** `value` (text from a command line, or a number) as an RootfsSize; USAGE when it is none. */
export function parseRootfsSize(value: string | number): RootfsSize {
  const text = String(value).trim();
  if (text === 'auto') return 'auto';
  const mib = Number(text);
  if (/^\d+$/.test(text) && Number.isSafeInteger(mib) && mib >= MIN_SIZE_MIB && mib <= MAX_SIZE_MIB) return mib;
  throw new InfraError('USAGE', `The image size must be a whole number of MB from ${MIN_SIZE_MIB} to ${MAX_SIZE_MIB}, or auto, not '${text}'.`, {
    option: 'size',
    hint: 'give {size} in MB (1 MB = 1,048,576 bytes), e.g. {size} 150, or {size} auto',
  });
}

/** The bytes of a fixed size. */
export function sizeBytes(mib: number): number {
  return mib * MIB;
}

/** The blocks of a fixed size. */
export function sizeBlocks(mib: number): number {
  return mib * BLOCKS_PER_MIB;
}

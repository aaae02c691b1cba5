/** All-zero detection, for blocks that become holes (ext4, downloads) or end a tar archive. */

const ZEROS = Buffer.alloc(64 * 1024);

/** Whether the `length` bytes of `data` from `offset` are all zero. */
export function isZero(data: Buffer, offset = 0, length = data.length - offset): boolean {
  // Most data has a non-zero byte up front: decide cheaply before comparing all.
  for (let i = offset, head = Math.min(offset + 4, offset + length); i < head; i++) if (data[i] !== 0) return false;
  for (let at = offset, end = offset + length; at < end; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, end - at);
    if (data.compare(ZEROS, 0, n, at, at + n) !== 0) return false;
  }
  return true;
}

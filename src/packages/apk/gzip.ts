/**
 * Member boundaries of concatenated gzip streams (RFC 1952 §2.2), which apk's formats
 * need: an index or package signature covers the compressed bytes that follow its own
 * member, and the index's `C:` hash is over the compressed control member. Only the
 * small leading members are inflated here (node:zlib); a package's data member streams
 * through the project's decompressor (src/image/decompress.ts).
 */
import { inflateRawSync, type ZlibOptions } from 'node:zlib';
import { InfraError } from '../../errors.js';

/** RFC 1952 §2.3: ID1 ID2, CM = 8 (deflate). */
const MAGIC = [0x1f, 0x8b, 8] as const;
/** RFC 1952 §2.3 FLG bits. */
const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
/** ID1 ID2 CM FLG MTIME(4) XFL OS. */
const FIXED_HEADER = 10;
/** CRC32 and ISIZE. */
const TRAILER = 8;

export interface GzipMember {
  /** Offset of the member's first byte in the buffer. */
  start: number;
  /** Offset just past its trailer: where the next member starts. */
  end: number;
  /** Its inflated bytes. */
  data: Buffer;
}

/** The gzip member at `start` of `buf`, inflated to at most `maxOutput` bytes. */
export function gzipMemberAt(buf: Buffer, start: number, maxOutput: number, what: string): GzipMember {
  const body = start + headerLength(buf, start, what);
  let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    const options = { info: true, maxOutputLength: maxOutput } as ZlibOptions & { info: true };
    inflated = inflateRawSync(buf.subarray(body), options) as unknown as typeof inflated;
  } catch (err) {
    throw broken(what, `its gzip member at byte ${start} does not inflate (${(err as Error).message})`);
  }
  const end = body + inflated.engine.bytesWritten + TRAILER;
  if (end > buf.length) throw broken(what, `its gzip member at byte ${start} is cut short`);
  if (buf.readUInt32LE(end - 4) !== inflated.buffer.length % 2 ** 32) throw broken(what, `its gzip member at byte ${start} has a wrong length in its trailer`);
  return { start, end, data: inflated.buffer };
}

function headerLength(buf: Buffer, start: number, what: string): number {
  if (buf.length < start + FIXED_HEADER || MAGIC.some((byte, i) => buf[start + i] !== byte)) {
    throw broken(what, `there is no gzip member at byte ${start}`);
  }
  const flags = buf[start + 3]!;
  let at = start + FIXED_HEADER;
  if (flags & FEXTRA) at += 2 + (buf.length >= at + 2 ? buf.readUInt16LE(at) : 0);
  if (flags & FNAME) at = afterZero(buf, at);
  if (flags & FCOMMENT) at = afterZero(buf, at);
  if (flags & FHCRC) at += 2;
  if (at > buf.length) throw broken(what, `its gzip header at byte ${start} is cut short`);
  return at - start;
}

function afterZero(buf: Buffer, at: number): number {
  const zero = buf.indexOf(0, at);
  return zero < 0 ? buf.length + 1 : zero + 1;
}

function broken(what: string, detail: string): InfraError {
  return new InfraError('PACKAGE', `${what} is not in apk's format: ${detail}; the repository is damaged or the download was cut: try again, or use another mirror`);
}

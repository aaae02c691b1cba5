/**
 * POSIX.1-2001 extended header records ("%d %s=%s\n", POSIX `pax` "pax Extended Header"),
 * parsed at byte level: values stay raw bytes, because xattr values are binary and paths
 * are whatever bytes the writer stored (never decoded as UTF-8 here).
 */
import type { Timestamp } from '../tree/tree.js';

/** Record keywords this reader interprets (POSIX, GNU tar, star, libarchive). */
export const PAX_KEY = {
  path: 'path',
  linkpath: 'linkpath',
  size: 'size',
  uid: 'uid',
  gid: 'gid',
  uname: 'uname',
  gname: 'gname',
  mtime: 'mtime',
  atime: 'atime',
  ctime: 'ctime',
  devmajor: 'SCHILY.devmajor',
  devminor: 'SCHILY.devminor',
  schilyXattrPrefix: 'SCHILY.xattr.',
  libarchiveXattrPrefix: 'LIBARCHIVE.xattr.',
  sparseMajor: 'GNU.sparse.major',
  sparseMinor: 'GNU.sparse.minor',
  sparseName: 'GNU.sparse.name',
  sparseRealSize: 'GNU.sparse.realsize', // 1.0
  sparseSize: 'GNU.sparse.size', // 0.0, 0.1
  sparseMap: 'GNU.sparse.map', // 0.1
  sparseOffset: 'GNU.sparse.offset', // 0.0, repeated
  sparseNumBytes: 'GNU.sparse.numbytes', // 0.0, repeated
} as const;

/** The records of one extended header. Keys are byte strings (latin1). */
export interface PaxHeader {
  records: Map<string, Buffer>;
  /** GNU sparse 0.0 repeats offset/numbytes keys: kept in order as [offset, numbytes, …]. */
  sparsePairs: string[];
}

const SPACE = 0x20;
const EQUALS = 0x3d;
const NEWLINE = 0x0a;
const ZERO = 0x30;
const NINE = 0x39;

/** Thrown for a malformed record; the caller adds which entry it belongs to. */
export class PaxFormatError extends Error {}

/** Parses an extended header body. Trailing NUL padding is tolerated. */
export function parsePax(body: Buffer): PaxHeader {
  const header: PaxHeader = { records: new Map(), sparsePairs: [] };
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const { key, value, next } = parseRecord(body, pos);
    if (key === PAX_KEY.sparseOffset || key === PAX_KEY.sparseNumBytes) {
      header.sparsePairs.push(value.toString('latin1'));
    } else {
      header.records.set(key, value);
    }
    pos = next;
  }
  for (let i = pos; i < body.length; i++) {
    if (body[i] !== 0) throw new PaxFormatError(`junk after the last record at byte ${i}`);
  }
  return header;
}

function parseRecord(body: Buffer, start: number): { key: string; value: Buffer; next: number } {
  let pos = start;
  let length = 0;
  while (pos < body.length && body[pos] >= ZERO && body[pos] <= NINE && pos - start < 16) {
    length = length * 10 + (body[pos] - ZERO);
    pos++;
  }
  if (pos === start || body[pos] !== SPACE) {
    throw new PaxFormatError(`record at byte ${start} does not start with "<length> "`);
  }
  const end = start + length;
  if (end > body.length || length <= pos - start + 1) {
    throw new PaxFormatError(`record at byte ${start} claims ${length} bytes but ${body.length - start} remain`);
  }
  if (body[end - 1] !== NEWLINE) throw new PaxFormatError(`record at byte ${start} does not end with a newline`);
  const keyStart = pos + 1;
  const equals = body.indexOf(EQUALS, keyStart);
  if (equals < 0 || equals >= end - 1 || equals === keyStart) {
    throw new PaxFormatError(`record at byte ${start} has no "keyword=value"`);
  }
  return { key: body.toString('latin1', keyStart, equals), value: body.subarray(equals + 1, end - 1), next: end };
}

/** A non-negative decimal integer record value. */
export function paxInteger(value: Buffer, key: string): number {
  const text = value.toString('latin1');
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new PaxFormatError(`"${key}" is not a valid number: "${text}"`);
  }
  return Number(text);
}

/** The integer record `key`, if present. */
export function numberRecord(records: Map<string, Buffer>, key: string): number | undefined {
  const value = records.get(key);
  return value === undefined ? undefined : paxInteger(value, key);
}

/** The time record `key`, if present. */
export function timeRecord(records: Map<string, Buffer>, key: string): Timestamp | undefined {
  const value = records.get(key);
  return value === undefined ? undefined : paxTime(value, key);
}

/**
 * A time record: decimal seconds with an optional fraction, possibly negative. The
 * fraction counts forward from `sec`, so -1000.5 is sec -1001 + 500000000 ns.
 */
export function paxTime(value: Buffer, key: string): Timestamp {
  const text = value.toString('latin1');
  const match = /^(-?)(\d{1,16})(?:\.(\d*))?$/.exec(text);
  if (!match) throw new PaxFormatError(`"${key}" is not a valid time: "${text}"`);
  const whole = Number(match[2]);
  const nsec = Number((match[3] ?? '').slice(0, 9).padEnd(9, '0'));
  if (match[1] !== '-') return { sec: whole, nsec };
  return nsec === 0 ? { sec: -whole, nsec: 0 } : { sec: -whole - 1, nsec: 1_000_000_000 - nsec };
}

/**
 * xattr records: `SCHILY.xattr.NAME` carries raw value bytes (GNU tar escapes `%` and `=`
 * in NAME as %25 and %3D); `LIBARCHIVE.xattr.NAME` has a URL-encoded NAME and a base64
 * value. Returns full names (byte strings) → value bytes.
 */
export function paxXattrs(records: Map<string, Buffer>): Map<string, Buffer> {
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of records) {
    if (key.startsWith(PAX_KEY.libarchiveXattrPrefix)) {
      const name = percentDecode(key.slice(PAX_KEY.libarchiveXattrPrefix.length), key);
      xattrs.set(name, base64Value(value, key));
    }
  }
  // SCHILY values are raw bytes; where both forms exist they agree, and SCHILY needs no decoding.
  for (const [key, value] of records) {
    if (key.startsWith(PAX_KEY.schilyXattrPrefix)) {
      const name = key.slice(PAX_KEY.schilyXattrPrefix.length).replace(/%(25|3D)/gi, (_all, hex: string) =>
        hex === '25' ? '%' : '=',
      );
      if (name === '') throw new PaxFormatError(`"${key}" has no attribute name`);
      xattrs.set(name, Buffer.from(value));
    }
  }
  return xattrs;
}

function percentDecode(encoded: string, key: string): string {
  if (encoded === '') throw new PaxFormatError(`"${key}" has no attribute name`);
  return encoded.replace(/%([0-9A-Fa-f]{2})|%/g, (_all, hex: string | undefined) => {
    if (hex === undefined) throw new PaxFormatError(`"${key}" has a bad %-escape`);
    return String.fromCharCode(parseInt(hex, 16));
  });
}

function base64Value(value: Buffer, key: string): Buffer {
  const text = value.toString('latin1');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new PaxFormatError(`"${key}" is not base64`);
  return Buffer.from(text, 'base64');
}

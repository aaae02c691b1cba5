/**
 * The one decoder of a 512-byte tar header (the layout is declared in format.ts): the
 * checksum, octal and base-256 numbers with their sign and range, names as byte strings
 * (latin1, see tree.ts), and which of v7, ustar and GNU wrote it. The streaming reader and
 * the archive index both decode headers here, so they accept and refuse the same archives.
 */
import { printable } from '../errors.js';
import type { EntryType } from './entry.js';
import { BLOCK_SIZE, MAGIC_GNU, MAGIC_USTAR, OLDGNU, TYPE, USTAR } from './format.js';

export type Format = 'ustar' | 'gnu' | 'v7';

/** One 512-byte header, decoded; numbers already range-checked. */
export interface Header {
  offset: number;
  format: Format;
  /** `prefix/name` for ustar; a byte string. */
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: number;
  linkname: string;
  uname: string;
  gname: string;
  devMajor: number;
  devMinor: number;
  /** GNU format only, when set. */
  atime?: number;
  ctime?: number;
  block: Buffer;
}

/**
 * A damaged archive, described ("entry X (header at byte N) has …"); the reader and the
 * index each turn it into an `InfraError` worded for their user.
 */
export class TarFormatError extends Error {}

export function decodeHeader(block: Buffer, offset: number): Header {
  const format = headerFormat(block);
  const shortName = cStringField(block, USTAR.name);
  const prefix = format === 'ustar' ? cStringField(block, USTAR.prefix) : '';
  const name = prefix === '' ? shortName : `${prefix}/${shortName}`;
  const where = () => describeEntry(name, offset);
  verifyChecksum(block, where);
  const num = (field: readonly [number, number], label: string) => readNumber(block, field, label, where) ?? 0;
  const header: Header = {
    offset,
    format,
    name,
    mode: num(USTAR.mode, 'mode'),
    uid: num(USTAR.uid, 'uid'),
    gid: num(USTAR.gid, 'gid'),
    size: num(USTAR.size, 'size'),
    mtime: num(USTAR.mtime, 'mtime'),
    typeflag: block[USTAR.typeflag[0]],
    linkname: cStringField(block, USTAR.linkname),
    uname: format === 'v7' ? '' : cStringField(block, USTAR.uname),
    gname: format === 'v7' ? '' : cStringField(block, USTAR.gname),
    devMajor: format === 'v7' ? 0 : num(USTAR.devmajor, 'devmajor'),
    devMinor: format === 'v7' ? 0 : num(USTAR.devminor, 'devminor'),
    block,
  };
  for (const field of ['size', 'mode', 'uid', 'gid', 'devMajor', 'devMinor'] as const) {
    if (header[field] < 0) throw new TarFormatError(`${where()} has a negative ${field} (${header[field]})`);
  }
  if (format === 'gnu') {
    header.atime = readNumber(block, OLDGNU.atime, 'atime', where);
    header.ctime = readNumber(block, OLDGNU.ctime, 'ctime', where);
  }
  return header;
}

/** How errors name a member: its path and where its header starts. */
export function describeEntry(path: string, offset: number): string {
  return `entry "${printable(path)}" (header at byte ${offset})`;
}

function headerFormat(block: Buffer): Format {
  const magic = block.toString('latin1', USTAR.magic[0], USTAR.magic[0] + USTAR.magic[1]);
  if (magic === MAGIC_USTAR) return 'ustar';
  if (magic === MAGIC_GNU) return 'gnu';
  return 'v7';
}

/** The header checksum: the byte sum with the `chksum` field counted as spaces. */
export function headerChecksum(block: Buffer): { unsigned: number; signed: number } {
  const [start, length] = USTAR.chksum;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const byte = i >= start && i < start + length ? 0x20 : block[i];
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 0x100 : byte;
  }
  return { unsigned, signed };
}

/** Writers disagree on signed vs unsigned byte sums (POSIX says unsigned); accept both. */
function verifyChecksum(block: Buffer, where: () => string): void {
  const { unsigned, signed } = headerChecksum(block);
  const stored = parseOctal(block, USTAR.chksum);
  if (stored !== unsigned && stored !== signed) {
    const shown = stored === undefined || Number.isNaN(stored) ? 'unreadable' : `0o${stored.toString(8)}`;
    throw new TarFormatError(`${where()} has a bad header checksum (stored ${shown}, computed 0o${unsigned.toString(8)})`);
  }
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK_SIZE; i += 4) {
    if (block.readUInt32LE(i) !== 0) return false;
  }
  return true;
}

/**
 * A numeric field: octal text (padded with spaces or NULs), or GNU/star base-256 when the
 * first byte has its top bit set (0x80 positive, 0xff negative: two's complement).
 * Undefined when the field is empty.
 */
export function readNumber(block: Buffer, field: readonly [number, number], label: string, where: () => string): number | undefined {
  const [start, length] = field;
  const first = block[start];
  if (first & 0x80) {
    let value = BigInt(first & 0x7f);
    for (let i = start + 1; i < start + length; i++) value = (value << 8n) | BigInt(block[i]);
    // Bit 0x40 of the first byte is the sign of the remaining 8*length-1 bits.
    if (first & 0x40) value -= 1n << BigInt(8 * length - 1);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new TarFormatError(`${where()} has an absurd ${label} (${value})`);
    }
    return Number(value);
  }
  const value = parseOctal(block, field);
  if (Number.isNaN(value)) {
    throw new TarFormatError(`${where()} has a malformed ${label} field ("${block.toString('latin1', start, start + length)}")`);
  }
  return value;
}

/** Octal text; undefined when empty, NaN when malformed. */
function parseOctal(block: Buffer, [start, length]: readonly [number, number]): number | undefined {
  const end = start + length;
  let i = start;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const byte = block[i];
    if (byte < 0x30 || byte > 0x37) break;
    value = value * 8 + (byte - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    if (block[i] !== 0 && block[i] !== 0x20) return NaN;
  }
  return digits === 0 ? undefined : value;
}

function cStringField(block: Buffer, [start, length]: readonly [number, number]): string {
  const nul = block.indexOf(0, start);
  const end = nul < 0 || nul > start + length ? start + length : nul;
  return block.toString('latin1', start, end);
}

/** A NUL-terminated body (GNU long names) as a byte string. */
export function cString(body: Buffer): string {
  const nul = body.indexOf(0);
  return body.toString('latin1', 0, nul < 0 ? body.length : nul);
}

/** The file type a header's typeflag stands for; undefined for types we cannot read. */
export function entryType(typeflag: number, path: string): EntryType | undefined {
  switch (typeflag) {
    case TYPE.oldFile:
      // Pre-POSIX archives mark directories with a trailing slash only.
      return path.endsWith('/') ? 'dir' : 'file';
    case TYPE.file:
    case TYPE.contiguous:
    case TYPE.gnuSparse:
      return 'file';
    case TYPE.hardlink:
      return 'hardlink';
    case TYPE.symlink:
      return 'symlink';
    case TYPE.char:
      return 'char';
    case TYPE.block:
      return 'block';
    case TYPE.dir:
    case TYPE.gnuDumpDir:
      return 'dir';
    case TYPE.fifo:
      return 'fifo';
    default:
      return undefined;
  }
}

/** Types 2-6 carry no data whatever their size field says (POSIX ustar). */
export function hasData(typeflag: number): boolean {
  return !(
    typeflag === TYPE.symlink ||
    typeflag === TYPE.char ||
    typeflag === TYPE.block ||
    typeflag === TYPE.dir ||
    typeflag === TYPE.fifo
  );
}

export function typeflagName(typeflag: number): string {
  return typeflag >= 0x20 && typeflag < 0x7f ? `'${String.fromCharCode(typeflag)}'` : `0x${typeflag.toString(16)}`;
}

/** Bytes after `size` up to the next block boundary. */
export function padding(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

export function truncatedBody(what: string, claimed: number, available: number): TarFormatError {
  return new TarFormatError(`${what} claims ${claimed} bytes but the archive ends after ${available}`);
}

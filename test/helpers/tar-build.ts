/**
 * A small tar WRITER for tests: emits ustar, GNU and v7 headers with any field values
 * (base-256 numbers, bad checksums, binary PAX values, GNU long names, old-GNU sparse maps)
 * so that tests can build the archives real tools will not.
 *
 * Low level: `header()` builds one 512-byte block, `member()` a header plus padded data,
 * `paxMember()` / `gnuLongName()` / `gnuLongLink()` the extension members, `tarball()` the
 * concatenation plus the end-of-archive marker. High level: `buildLayer()` turns a list
 * of plain entries into a layer tar (PAX records only where needed).
 *
 * Byte strings: names given as strings are written as latin1 (one char per byte), as the
 * reader returns them; pass a Buffer for arbitrary bytes.
 */
import type { Timestamp } from '../../src/tree/tree.js';

const BLOCK = 512;

/** A numeric field: octal when it fits, base-256 otherwise; or forced either way. */
export type NumberField = number | bigint | { base256: number | bigint } | { raw: string | Buffer };

export interface HeaderFields {
  name?: string | Buffer;
  mode?: NumberField;
  uid?: NumberField;
  gid?: NumberField;
  size?: NumberField;
  mtime?: NumberField;
  /** One character: '0', '5', 'x', 'L', '\0', … Default '0'. */
  typeflag?: string;
  linkname?: string | Buffer;
  /** Default 'ustar'. 'gnu' writes the "ustar  \0" magic and allows atime/ctime/sparse. */
  format?: 'ustar' | 'gnu' | 'v7';
  uname?: string | Buffer;
  gname?: string | Buffer;
  devmajor?: NumberField;
  devminor?: NumberField;
  /** ustar only. */
  prefix?: string | Buffer;
  /** GNU only. */
  atime?: NumberField;
  ctime?: NumberField;
  /** GNU only: the old sparse map in the header (up to 4 [offset, numbytes] pairs). */
  sparse?: Array<[number, number]>;
  sparseIsExtended?: boolean;
  realsize?: NumberField;
  /** Overrides the computed checksum (e.g. to test a bad one). */
  checksum?: number;
  /** Compute the checksum with signed bytes (some old writers did). */
  signedChecksum?: boolean;
}

/** One 512-byte header block. */
export function header(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  const format = fields.format ?? 'ustar';
  putString(block, 0, 100, fields.name ?? 'file');
  putNumber(block, 100, 8, fields.mode ?? 0o644);
  putNumber(block, 108, 8, fields.uid ?? 0);
  putNumber(block, 116, 8, fields.gid ?? 0);
  putNumber(block, 124, 12, fields.size ?? 0);
  putNumber(block, 136, 12, fields.mtime ?? 0);
  block.write((fields.typeflag ?? '0').slice(0, 1), 156, 'latin1');
  putString(block, 157, 100, fields.linkname ?? '');
  if (format !== 'v7') {
    block.write(format === 'gnu' ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
    putString(block, 265, 32, fields.uname ?? '');
    putString(block, 297, 32, fields.gname ?? '');
    putNumber(block, 329, 8, fields.devmajor ?? 0);
    putNumber(block, 337, 8, fields.devminor ?? 0);
  }
  if (format === 'ustar' && fields.prefix !== undefined) putString(block, 345, 155, fields.prefix);
  if (format === 'gnu') {
    if (fields.atime !== undefined) putNumber(block, 345, 12, fields.atime);
    if (fields.ctime !== undefined) putNumber(block, 357, 12, fields.ctime);
    (fields.sparse ?? []).forEach(([offset, numbytes], i) => {
      putNumber(block, 386 + i * 24, 12, offset);
      putNumber(block, 386 + i * 24 + 12, 12, numbytes);
    });
    if (fields.sparseIsExtended) block[482] = 1;
    if (fields.realsize !== undefined) putNumber(block, 483, 12, fields.realsize);
  }
  const sum = fields.checksum ?? checksum(block, fields.signedChecksum ?? false);
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function checksum(block: Buffer, signed: boolean): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i];
    sum += signed && byte >= 0x80 ? byte - 0x100 : byte;
  }
  return sum;
}

/** A GNU old-sparse extension block: up to 21 [offset, numbytes] pairs. */
export function sparseExtension(pairs: Array<[number, number]>, isExtended: boolean): Buffer {
  const block = Buffer.alloc(BLOCK);
  pairs.forEach(([offset, numbytes], i) => {
    putNumber(block, i * 24, 12, offset);
    putNumber(block, i * 24 + 12, 12, numbytes);
  });
  if (isExtended) block[504] = 1;
  return block;
}

/** A header followed by `data` padded to whole blocks; `size` defaults to the data length. */
export function member(fields: HeaderFields, data: string | Buffer = Buffer.alloc(0)): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return Buffer.concat([header({ size: bytes.length, ...fields }), bytes, Buffer.alloc(padding(bytes.length))]);
}

/** PAX records in order; values are raw bytes (a string is written as latin1). */
export type PaxRecords = Array<[string, string | Buffer]> | Record<string, string | Buffer>;

/** The body of an extended header: "<length> <key>=<value>\n" records. */
export function paxBody(records: PaxRecords): Buffer {
  const list = Array.isArray(records) ? records : Object.entries(records);
  return Buffer.concat(list.map(([key, value]) => paxRecord(key, value)));
}

function paxRecord(key: string, value: string | Buffer): Buffer {
  const payload = Buffer.concat([
    Buffer.from(` ${key}=`, 'latin1'),
    typeof value === 'string' ? Buffer.from(value, 'latin1') : value,
    Buffer.from('\n'),
  ]);
  // The length counts its own digits: grow it until it is self-consistent.
  let length = payload.length + 1;
  while (String(length).length + payload.length !== length) length++;
  return Buffer.concat([Buffer.from(String(length)), payload]);
}

/** An extended header member ('x' for the next entry, 'g' for all following). */
export function paxMember(records: PaxRecords, options: { global?: boolean; name?: string } = {}): Buffer {
  const name = options.name ?? (options.global ? 'pax_global_header' : 'PaxHeaders/entry');
  return member({ name, typeflag: options.global ? 'g' : 'x' }, paxBody(records));
}

/** A GNU 'L' member: the next entry's full name. */
export function gnuLongName(name: string | Buffer): Buffer {
  return member({ name: '././@LongLink', typeflag: 'L', format: 'gnu' }, nulTerminated(name));
}

/** A GNU 'K' member: the next entry's full link name. */
export function gnuLongLink(target: string | Buffer): Buffer {
  return member({ name: '././@LongLink', typeflag: 'K', format: 'gnu' }, nulTerminated(target));
}

/** Two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** The parts, then the end-of-archive marker. */
export function tarball(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, endOfArchive()]);
}

/** An async stream of `data` in chunks of `size` bytes (to exercise chunk boundaries). */
export async function* chunked(data: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

export type LayerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** One entry of a layer built with `buildLayer`. */
export interface LayerEntry {
  /** Byte string or Buffer, as the tar should store it (e.g. 'etc/passwd', 'd/'). */
  path: string | Buffer;
  /** Default 'file' ('dir' when the path ends with '/'). */
  type?: LayerEntryType;
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds, or a timestamp with nanoseconds (written as a PAX record). */
  mtime?: number | Timestamp;
  linkname?: string | Buffer;
  devMajor?: number;
  devMinor?: number;
  /** Full xattr names → values (written as SCHILY.xattr records, raw bytes). */
  xattrs?: Record<string, string | Buffer>;
}

const TYPEFLAG: Record<LayerEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/**
 * A complete layer tar (ustar headers; a PAX header before an entry only when it needs
 * one: a long path or link name, xattrs, sub-second or out-of-range times, big ids).
 */
export function buildLayer(entries: LayerEntry[]): Buffer {
  return tarball(...entries.map(layerMember));
}

function layerMember(entry: LayerEntry): Buffer {
  const path = toBytes(entry.path);
  const type = entry.type ?? (path[path.length - 1] === 0x2f ? 'dir' : 'file');
  const linkname = toBytes(entry.linkname ?? '');
  const data = type === 'file' ? toBytes(entry.data ?? '') : Buffer.alloc(0);
  const mtime = typeof entry.mtime === 'number' ? { sec: entry.mtime, nsec: 0 } : (entry.mtime ?? { sec: 0, nsec: 0 });
  const records: Array<[string, string | Buffer]> = [];
  if (path.length > 100) records.push(['path', path]);
  if (linkname.length > 100) records.push(['linkpath', linkname]);
  if (mtime.nsec !== 0 || mtime.sec < 0 || mtime.sec >= 8 ** 11) records.push(['mtime', paxTimeText(mtime)]);
  for (const [key, id] of [['uid', entry.uid], ['gid', entry.gid]] as const) {
    if (id !== undefined && id >= 8 ** 7) records.push([key, String(id)]);
  }
  for (const [name, value] of Object.entries(entry.xattrs ?? {})) {
    records.push([`SCHILY.xattr.${name}`, toBytes(value)]);
  }
  const fields: HeaderFields = {
    name: path.subarray(0, 100),
    typeflag: TYPEFLAG[type],
    mode: entry.mode ?? (type === 'dir' ? 0o755 : 0o644),
    uid: Math.min(entry.uid ?? 0, 8 ** 7 - 1),
    gid: Math.min(entry.gid ?? 0, 8 ** 7 - 1),
    uname: entry.uname ?? '',
    gname: entry.gname ?? '',
    mtime: Math.max(0, Math.min(mtime.sec, 8 ** 11 - 1)),
    linkname: linkname.subarray(0, 100),
    devmajor: entry.devMajor ?? 0,
    devminor: entry.devMinor ?? 0,
  };
  const pax = records.length > 0 ? [paxMember(records)] : [];
  return Buffer.concat([...pax, member(fields, data)]);
}

/** PAX time text: a negative time with a fraction counts the fraction forward from sec. */
export function paxTimeText(time: Timestamp): string {
  if (time.nsec === 0) return String(time.sec);
  const fraction = String(time.nsec).padStart(9, '0').replace(/0+$/, '');
  return time.sec < 0
    ? `-${-time.sec - 1}.${String(1_000_000_000 - time.nsec).padStart(9, '0').replace(/0+$/, '')}`
    : `${time.sec}.${fraction}`;
}

function toBytes(value: string | Buffer): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
}

function putString(block: Buffer, offset: number, length: number, value: string | Buffer): void {
  toBytes(value).copy(block, offset, 0, length);
}

function putNumber(block: Buffer, offset: number, length: number, value: NumberField): void {
  if (typeof value === 'object' && 'raw' in value) {
    toBytes(value.raw).copy(block, offset, 0, length);
    return;
  }
  const forced = typeof value === 'object' && 'base256' in value;
  const n = BigInt(forced ? value.base256 : value);
  // Octal needs length-1 digits plus a NUL terminator.
  if (!forced && n >= 0n && n < 8n ** BigInt(length - 1)) {
    block.write(`${n.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
    return;
  }
  // GNU base-256: big-endian two's complement; 0x80 marks positive, 0xff negative.
  let rest = n < 0n ? (1n << BigInt(8 * length)) + n : n;
  for (let i = length - 1; i >= 0; i--) {
    block[offset + i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  if (n >= 0n) block[offset] = 0x80;
}

function nulTerminated(value: string | Buffer): Buffer {
  return Buffer.concat([toBytes(value), Buffer.alloc(1)]);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** A member read back: the entry and its stored bytes. */
export interface ReadMember<E> {
  entry: E;
  data: Buffer;
}

/** Reads every member of a `readTar` iteration, with its body, into memory (tests only). */
export async function readAll<E>(members: AsyncIterable<{ entry: E; body: AsyncIterable<Buffer> }>): Promise<ReadMember<E>[]> {
  const result: ReadMember<E>[] = [];
  for await (const { entry, body } of members) {
    const parts: Buffer[] = [];
    for await (const part of body) parts.push(part);
    result.push({ entry, data: Buffer.concat(parts) });
  }
  return result;
}

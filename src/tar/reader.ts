/**
 * A streaming, pull-based tar reader: ustar, v7, GNU (long names, old sparse, times),
 * POSIX.1-2001 PAX (local and global headers, GNU sparse 0.0/0.1/1.0) and base-256
 * numbers. File data is handed out as subarrays of the input chunks; memory grows with
 * header metadata only. See docs/tar.md for what is accepted and why.
 */
import { InfraError, printable } from '../errors.js';
import { ByteReader } from '../io/byte-reader.js';
import type { EntryType, TarEntry, TarMember } from './entry.js';
import { PAX_KEY, PaxFormatError, parsePax, paxInteger, paxTime, paxXattrs, type PaxHeader } from './pax.js';
import {
  BLOCK_SIZE,
  MAGIC_GNU,
  MAGIC_USTAR,
  OLDGNU,
  OLDGNU_SPARSE_ENTRIES,
  SPARSE_ENTRY,
  SPARSE_ENTRY_SIZE,
  SPARSE_EXTENSION,
  SPARSE_EXTENSION_ENTRIES,
  TYPE,
  USTAR,
} from './format.js';
import type { SparseRegion, Timestamp } from '../tree/tree.js';

export interface ReadTarOptions {
  /** Entries whose stored or apparent size exceeds this are rejected as absurd. */
  maxEntrySize?: number;
}

/** Extended headers and GNU long names are read into memory; larger ones are rejected. */
const MAX_METADATA_BODY = 16 * 1024 * 1024;

/** Global PAX records that make no sense for every following entry, so are not applied. */
const GLOBAL_IGNORED = new Set<string>([PAX_KEY.path, PAX_KEY.linkpath, PAX_KEY.size]);

/**
 * Yields each member of a tar stream. A member's `body` yields its stored bytes and must
 * be read (or abandoned) before asking for the next member; what is left is skipped.
 * After the end-of-archive marker the rest of the stream is read and discarded, so a
 * digest computed over `source` covers every byte.
 */
export async function* readTar(
  source: AsyncIterable<Buffer>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarMember> {
  const reader = new ByteReader(source);
  const archive = new ArchiveReader(reader, options);
  try {
    for (;;) {
      const next = await archive.nextMember();
      if (next === undefined) break;
      yield { entry: next.entry, body: next.body };
      await next.body.finish();
    }
    await reader.drain();
  } finally {
    await reader.close();
  }
}

type Format = 'ustar' | 'gnu' | 'v7';

/** One 512-byte header, decoded; numbers already range-checked. */
interface Header {
  offset: number;
  format: Format;
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

class ArchiveReader {
  private readonly globals = new Map<string, Buffer>();

  constructor(
    private readonly reader: ByteReader,
    private readonly options: ReadTarOptions,
  ) {}

  /** The next file-system member, after any extension headers that describe it. */
  async nextMember(): Promise<{ entry: TarEntry; body: MemberBody } | undefined> {
    let pax: PaxHeader | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const offset = this.reader.position;
      const block = await this.reader.read(BLOCK_SIZE);
      // EOF at a header boundary: GNU tar accepts it silently, so do we.
      if (block.length === 0) return undefined;
      if (block.length < BLOCK_SIZE) {
        throw damaged(`the archive ends inside a header at byte ${offset} (${block.length} of ${BLOCK_SIZE} bytes)`);
      }
      // One zero block ends the archive, as in GNU tar; what follows is drained.
      if (isZeroBlock(block)) return undefined;
      const header = parseHeader(block, offset);
      switch (header.typeflag) {
        case TYPE.paxLocal:
        case TYPE.solarisPax:
          pax = mergeLocal(pax, await this.readPax(header));
          continue;
        case TYPE.paxGlobal:
          this.applyGlobal(await this.readPax(header));
          continue;
        case TYPE.gnuLongName:
          longName = cString(await this.readMetadataBody(header, 'GNU long name'));
          continue;
        case TYPE.gnuLongLink:
          longLink = cString(await this.readMetadataBody(header, 'GNU long link name'));
          continue;
        case TYPE.gnuVolume:
          await this.skipMetadataBody(header);
          continue;
        default:
          return this.member(header, pax, longName, longLink);
      }
    }
  }

  private async member(
    header: Header,
    pax: PaxHeader | undefined,
    longName: string | undefined,
    longLink: string | undefined,
  ): Promise<{ entry: TarEntry; body: MemberBody }> {
    const records = new Map(this.globals);
    for (const [key, value] of pax?.records ?? []) {
      // An empty local value cancels the global one and falls back to the header's field.
      if (value.length === 0) records.delete(key);
      else records.set(key, value);
    }
    let path = latin1(records.get(PAX_KEY.path)) ?? longName ?? header.name;
    const where = () => `entry "${printable(path)}" (header at byte ${header.offset})`;
    try {
      const type = entryType(header.typeflag, path);
      if (type === undefined) {
        throw new InfraError(
          'TAR',
          `${where()} has type ${typeflagName(header.typeflag)}, which infra.operator cannot read: ` +
            'the archive is damaged, or was written with vendor extensions; re-create it with GNU tar or bsdtar',
        );
      }
      const storedSize = numberRecord(records, PAX_KEY.size) ?? header.size;
      this.checkSize(storedSize, where);
      const sparseName = latin1(records.get(PAX_KEY.sparseName));
      if (type === 'file' && sparseName !== undefined) path = sparseName;
      const entry: TarEntry = {
        path,
        type,
        mode: header.mode & 0o7777,
        uid: numberRecord(records, PAX_KEY.uid) ?? header.uid,
        gid: numberRecord(records, PAX_KEY.gid) ?? header.gid,
        uname: latin1(records.get(PAX_KEY.uname)) ?? header.uname,
        gname: latin1(records.get(PAX_KEY.gname)) ?? header.gname,
        size: type === 'file' ? storedSize : 0,
        mtime: timeRecord(records, PAX_KEY.mtime) ?? wholeSeconds(header.mtime),
        linkname: latin1(records.get(PAX_KEY.linkpath)) ?? longLink ?? header.linkname,
        devMajor: numberRecord(records, PAX_KEY.devmajor) ?? header.devMajor,
        devMinor: numberRecord(records, PAX_KEY.devminor) ?? header.devMinor,
        xattrs: paxXattrs(records),
      };
      const atime = timeRecord(records, PAX_KEY.atime) ?? optionalSeconds(header.atime);
      const ctime = timeRecord(records, PAX_KEY.ctime) ?? optionalSeconds(header.ctime);
      if (atime) entry.atime = atime;
      if (ctime) entry.ctime = ctime;
      // Types 2-6 carry no data (POSIX ustar); hard links and dumpdirs may, and it is skipped.
      const dataSize = hasData(header.typeflag) ? storedSize : 0;
      let mapSize = 0;
      if (type === 'file') {
        const sparse = await this.sparseMap(header, records, pax, storedSize, where);
        if (sparse) {
          entry.sparse = sparse.regions;
          entry.size = sparse.realSize;
          mapSize = sparse.mapSize;
          this.checkSize(entry.size, where);
        }
      }
      const body = new MemberBody(this.reader, entry.path, dataSize - mapSize, type === 'file', padding(dataSize));
      return { entry, body };
    } catch (err) {
      if (err instanceof PaxFormatError) throw damaged(`${where()} has a malformed extended header: ${err.message}`);
      throw err;
    }
  }

  private checkSize(size: number, where: () => string): void {
    const max = this.options.maxEntrySize;
    if (max !== undefined && size > max) {
      throw damaged(`${where()} claims ${size} bytes, more than the limit of ${max}`);
    }
  }

  private async readPax(header: Header): Promise<PaxHeader> {
    const body = await this.readMetadataBody(header, 'extended header');
    try {
      return parsePax(body);
    } catch (err) {
      if (!(err instanceof PaxFormatError)) throw err;
      throw damaged(`the extended header "${printable(header.name)}" at byte ${header.offset} is malformed: ${err.message}`);
    }
  }

  private applyGlobal(pax: PaxHeader): void {
    for (const [key, value] of pax.records) {
      if (GLOBAL_IGNORED.has(key) || key.startsWith('GNU.sparse.')) continue;
      if (value.length === 0) this.globals.delete(key);
      else this.globals.set(key, value);
    }
  }

  /** An extension header's body (owned bytes: it outlives the input chunk). */
  private async readMetadataBody(header: Header, what: string): Promise<Buffer> {
    if (header.size > MAX_METADATA_BODY) {
      throw damaged(`the ${what} "${printable(header.name)}" at byte ${header.offset} claims ${header.size} bytes`);
    }
    const body = await this.reader.read(header.size);
    const pad = await this.reader.skip(padding(header.size));
    const described = `the ${what} "${printable(header.name)}"`;
    if (body.length < header.size) throw truncatedBody(described, header.size, body.length);
    if (pad < padding(header.size)) throw damaged(`the archive ends inside the padding after ${described}`);
    return body;
  }

  private async skipMetadataBody(header: Header): Promise<void> {
    const want = header.size + padding(header.size);
    const got = await this.reader.skip(want);
    if (got < want) throw truncatedBody(`the entry "${printable(header.name)}"`, header.size, Math.min(got, header.size));
  }

  /** The sparse map of an old-GNU 'S' member or a PAX GNU.sparse member, if it is one. */
  private async sparseMap(
    header: Header,
    records: Map<string, Buffer>,
    pax: PaxHeader | undefined,
    storedSize: number,
    where: () => string,
  ): Promise<{ regions: SparseRegion[]; realSize: number; mapSize: number } | undefined> {
    if (header.typeflag === TYPE.gnuSparse) {
      const { regions, realSize } = await this.oldGnuSparseMap(header, where);
      return { regions: checkSparse(regions, realSize, storedSize, where), realSize, mapSize: 0 };
    }
    const version = sparseVersion(records, pax);
    if (version === undefined) return undefined;
    const realSize = numberRecord(records, PAX_KEY.sparseRealSize) ?? numberRecord(records, PAX_KEY.sparseSize);
    if (realSize === undefined) throw damaged(`${where()} is a GNU sparse file without its real size`);
    if (version === '1.0') {
      const { numbers, mapSize } = await this.sparseMapInData(storedSize, where);
      const regions = sparsePairs(numbers.slice(1), where);
      return { regions: checkSparse(regions, realSize, storedSize - mapSize, where), realSize, mapSize };
    }
    const flat =
      version === '0.0'
        ? (pax?.sparsePairs ?? [])
        : (latin1(records.get(PAX_KEY.sparseMap)) ?? '').split(',').filter((s) => s !== '');
    const numbers = flat.map((text) => paxInteger(Buffer.from(text, 'latin1'), 'GNU.sparse map'));
    return { regions: checkSparse(sparsePairs(numbers, where), realSize, storedSize, where), realSize, mapSize: 0 };
  }

  /** Old GNU: four map entries in the header, then 21 per extension block while isextended. */
  private async oldGnuSparseMap(header: Header, where: () => string): Promise<{ regions: SparseRegion[]; realSize: number }> {
    const regions = readSparseEntries(header.block, OLDGNU.sp[0], OLDGNU_SPARSE_ENTRIES, where);
    let extended = header.block[OLDGNU.isextended[0]] !== 0;
    while (extended) {
      const offset = this.reader.position;
      const block = await this.reader.read(BLOCK_SIZE);
      if (block.length < BLOCK_SIZE) {
        throw damaged(`the archive ends inside the sparse map of ${where()} at byte ${offset}`);
      }
      regions.push(...readSparseEntries(block, SPARSE_EXTENSION.sp[0], SPARSE_EXTENSION_ENTRIES, where));
      extended = block[SPARSE_EXTENSION.isextended[0]] !== 0;
    }
    const realSize = readNumber(header.block, OLDGNU.realsize, 'realsize', where);
    if (realSize === undefined) throw damaged(`${where()} is a GNU sparse file without its real size`);
    return { regions, realSize };
  }

  /** GNU sparse 1.0: decimal numbers, one per line, in whole blocks before the data. */
  private async sparseMapInData(storedSize: number, where: () => string): Promise<{ numbers: number[]; mapSize: number }> {
    const numbers: number[] = [];
    let wanted = 1;
    let text = '';
    let mapSize = 0;
    while (numbers.length < wanted) {
      if (mapSize + BLOCK_SIZE > storedSize) throw damaged(`${where()} has a sparse map longer than its data`);
      const block = await this.reader.read(BLOCK_SIZE);
      if (block.length < BLOCK_SIZE) throw truncatedBody(where(), storedSize, mapSize + block.length);
      mapSize += BLOCK_SIZE;
      text += block.toString('latin1');
      let newline: number;
      while (numbers.length < wanted && (newline = text.indexOf('\n')) >= 0) {
        numbers.push(paxInteger(Buffer.from(text.slice(0, newline), 'latin1'), 'GNU.sparse map'));
        text = text.slice(newline + 1);
        if (numbers.length === 1) wanted = 1 + 2 * numbers[0];
      }
    }
    return { numbers, mapSize };
  }
}

/** Yields a member's stored bytes straight from the input chunks. */
class MemberBody implements AsyncIterable<Buffer> {
  private read = 0;
  private started = false;
  private finished = false;

  constructor(
    private readonly reader: ByteReader,
    private readonly path: string,
    private readonly size: number,
    private readonly readable: boolean,
    private readonly padding: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    if (this.started) throw new Error(`the body of tar entry "${printable(this.path)}" can be read only once`);
    this.started = true;
    if (!this.readable) return;
    while (this.read < this.size) {
      if (this.finished) throw new Error(`tar entry "${printable(this.path)}" was read after the next entry was requested`);
      const piece = await this.reader.next(this.size - this.read);
      if (piece === undefined) throw truncatedBody(`the entry "${printable(this.path)}"`, this.size, this.read);
      this.read += piece.length;
      yield piece;
    }
  }

  /** Skips what the consumer left unread, and the padding to the next block. */
  async finish(): Promise<void> {
    this.finished = true;
    const unread = this.size - this.read;
    const skipped = await this.reader.skip(unread + this.padding);
    if (skipped < unread) throw truncatedBody(`the entry "${printable(this.path)}"`, this.size, this.read + skipped);
    if (skipped < unread + this.padding) {
      throw damaged(`the archive ends inside the padding after entry "${printable(this.path)}"`);
    }
  }
}

function parseHeader(block: Buffer, offset: number): Header {
  const format = headerFormat(block);
  const shortName = cStringField(block, USTAR.name);
  const prefix = format === 'ustar' ? cStringField(block, USTAR.prefix) : '';
  const name = prefix === '' ? shortName : `${prefix}/${shortName}`;
  const where = () => `entry "${printable(name)}" (header at byte ${offset})`;
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
    if (header[field] < 0) throw damaged(`${where()} has a negative ${field} (${header[field]})`);
  }
  if (format === 'gnu') {
    header.atime = readNumber(block, OLDGNU.atime, 'atime', where);
    header.ctime = readNumber(block, OLDGNU.ctime, 'ctime', where);
  }
  return header;
}

function headerFormat(block: Buffer): Format {
  const magic = block.toString('latin1', USTAR.magic[0], USTAR.magic[0] + USTAR.magic[1]);
  if (magic === MAGIC_USTAR) return 'ustar';
  if (magic === MAGIC_GNU) return 'gnu';
  return 'v7';
}

/** Writers disagree on signed vs unsigned byte sums (POSIX says unsigned); accept both. */
function verifyChecksum(block: Buffer, where: () => string): void {
  const [start, length] = USTAR.chksum;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const byte = i >= start && i < start + length ? 0x20 : block[i];
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 0x100 : byte;
  }
  const stored = parseOctal(block, USTAR.chksum);
  if (stored !== unsigned && stored !== signed) {
    const shown = stored === undefined || Number.isNaN(stored) ? 'unreadable' : `0o${stored.toString(8)}`;
    throw damaged(`${where()} has a bad header checksum (stored ${shown}, computed 0o${unsigned.toString(8)})`);
  }
}

function isZeroBlock(block: Buffer): boolean {
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
function readNumber(block: Buffer, field: readonly [number, number], label: string, where: () => string): number | undefined {
  const [start, length] = field;
  const first = block[start];
  if (first & 0x80) {
    let value = BigInt(first & 0x7f);
    for (let i = start + 1; i < start + length; i++) value = (value << 8n) | BigInt(block[i]);
    // Bit 0x40 of the first byte is the sign of the remaining 8*length-1 bits.
    if (first & 0x40) value -= 1n << BigInt(8 * length - 1);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw damaged(`${where()} has an absurd ${label} (${value})`);
    }
    return Number(value);
  }
  const value = parseOctal(block, field);
  if (Number.isNaN(value)) {
    throw damaged(`${where()} has a malformed ${label} field ("${block.toString('latin1', start, start + length)}")`);
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

function cString(body: Buffer): string {
  const nul = body.indexOf(0);
  return body.toString('latin1', 0, nul < 0 ? body.length : nul);
}

function entryType(typeflag: number, path: string): EntryType | undefined {
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

function hasData(typeflag: number): boolean {
  return !(
    typeflag === TYPE.symlink ||
    typeflag === TYPE.char ||
    typeflag === TYPE.block ||
    typeflag === TYPE.dir ||
    typeflag === TYPE.fifo
  );
}

function typeflagName(typeflag: number): string {
  return typeflag >= 0x20 && typeflag < 0x7f ? `'${String.fromCharCode(typeflag)}'` : `0x${typeflag.toString(16)}`;
}

function padding(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

function mergeLocal(earlier: PaxHeader | undefined, later: PaxHeader): PaxHeader {
  if (!earlier) return later;
  return {
    records: new Map([...earlier.records, ...later.records]),
    sparsePairs: later.sparsePairs.length > 0 ? later.sparsePairs : earlier.sparsePairs,
  };
}

function latin1(value: Buffer | undefined): string | undefined {
  return value?.toString('latin1');
}

function numberRecord(records: Map<string, Buffer>, key: string): number | undefined {
  const value = records.get(key);
  return value === undefined ? undefined : paxInteger(value, key);
}

function timeRecord(records: Map<string, Buffer>, key: string): Timestamp | undefined {
  const value = records.get(key);
  return value === undefined ? undefined : paxTime(value, key);
}

function wholeSeconds(sec: number): Timestamp {
  return { sec, nsec: 0 };
}

function optionalSeconds(sec: number | undefined): Timestamp | undefined {
  return sec === undefined ? undefined : { sec, nsec: 0 };
}

/** Which GNU sparse PAX format a member uses (GNU tar `sparse.c`), if any. */
function sparseVersion(records: Map<string, Buffer>, pax: PaxHeader | undefined): '0.0' | '0.1' | '1.0' | undefined {
  const major = latin1(records.get(PAX_KEY.sparseMajor));
  const minor = latin1(records.get(PAX_KEY.sparseMinor));
  if (major !== undefined || minor !== undefined) {
    const version = `${major ?? '?'}.${minor ?? '?'}`;
    if (version === '1.0' || version === '0.0' || version === '0.1') return version;
    throw new PaxFormatError(`GNU sparse format ${version} is not supported`);
  }
  if (records.has(PAX_KEY.sparseMap)) return '0.1';
  if ((pax?.sparsePairs.length ?? 0) > 0) return '0.0';
  return undefined;
}

function readSparseEntries(block: Buffer, start: number, count: number, where: () => string): SparseRegion[] {
  const regions: SparseRegion[] = [];
  for (let i = 0; i < count; i++) {
    const base = start + i * SPARSE_ENTRY_SIZE;
    const offset = readNumber(block, [base + SPARSE_ENTRY.offset[0], SPARSE_ENTRY.offset[1]], 'sparse offset', where);
    const length = readNumber(block, [base + SPARSE_ENTRY.numbytes[0], SPARSE_ENTRY.numbytes[1]], 'sparse numbytes', where);
    if (offset === undefined || length === undefined) break;
    regions.push({ offset, length });
  }
  return regions;
}

function sparsePairs(numbers: number[], where: () => string): SparseRegion[] {
  if (numbers.length % 2 !== 0) throw damaged(`${where()} has a sparse map with an odd number of values`);
  const regions: SparseRegion[] = [];
  for (let i = 0; i < numbers.length; i += 2) regions.push({ offset: numbers[i], length: numbers[i + 1] });
  return regions;
}

/** Regions must be in order, inside the file, and account for exactly the stored bytes. */
function checkSparse(regions: SparseRegion[], realSize: number, storedSize: number, where: () => string): SparseRegion[] {
  const kept: SparseRegion[] = [];
  let end = 0;
  let total = 0;
  for (const region of regions) {
    if (region.offset < end || region.offset + region.length > realSize) {
      throw damaged(`${where()} has a sparse map with a region at ${region.offset}+${region.length} out of order or past its size ${realSize}`);
    }
    end = region.offset + region.length;
    total += region.length;
    if (region.length > 0) kept.push(region);
  }
  if (total !== storedSize) {
    throw damaged(`${where()} has a sparse map covering ${total} bytes but stores ${storedSize}`);
  }
  return kept;
}

function damaged(detail: string): InfraError {
  return new InfraError('TAR', `${detail}: the archive is damaged or truncated; download or create it again`);
}

function truncatedBody(what: string, claimed: number, available: number): InfraError {
  return damaged(`${what} claims ${claimed} bytes but the archive ends after ${available}`);
}

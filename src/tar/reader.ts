/**
 * A streaming, pull-based tar reader: ustar, v7, GNU (long names, old sparse, times),
 * POSIX.1-2001 PAX (local and global headers, GNU sparse 0.0/0.1/1.0) and base-256
 * numbers. File data is handed out as subarrays of the input chunks; memory grows with
 * header metadata only. See docs/tar.md for what is accepted and why.
 */
import { InfraError, printable } from '../errors.js';
import { ByteReader } from '../io/byte-reader.js';
import type { Timestamp } from '../tree/tree.js';
import type { TarEntry, TarMember } from './entry.js';
import { HeaderSequence, type MemberHeaders } from './extensions.js';
import { describeEntry, entryType, hasData, padding, TarFormatError, truncatedBody, typeflagName } from './header.js';
import { numberRecord, PAX_KEY, PaxFormatError, paxXattrs, timeRecord } from './pax.js';
import { readSparseMap } from './sparse.js';

export interface ReadTarOptions {
  /** Entries whose stored or apparent size exceeds this are rejected as absurd. */
  maxEntrySize?: number;
  /** PAX record keys the caller reads itself (e.g. apk's `APK-TOOLS.checksum.SHA1`): kept in `entry.records`. */
  keepRecords?: readonly string[];
}

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
  const headers = new HeaderSequence(reader);
  try {
    for (;;) {
      const next = await nextMember(reader, headers, options).catch(worded);
      if (next === undefined) break;
      yield { entry: next.entry, body: next.body };
      await next.body.finish();
    }
    await reader.drain();
  } finally {
    await reader.close();
  }
}

/** The next file-system member, after any extension headers that describe it. */
async function nextMember(
  reader: ByteReader,
  headers: HeaderSequence,
  options: ReadTarOptions,
): Promise<{ entry: TarEntry; body: MemberBody } | undefined> {
  const member = await headers.next();
  if (member === undefined) return undefined;
  const { header, records } = member;
  let path = member.path;
  const where = () => describeEntry(path, header.offset);
  const checkSize = (size: number) => {
    const max = options.maxEntrySize;
    if (max !== undefined && size > max) throw damaged(`${where()} claims ${size} bytes, more than the limit of ${max}`);
  };
  try {
    const type = entryType(header.typeflag, path);
    if (type === undefined) {
      throw new InfraError(
        'TAR',
        `${where()} has type ${typeflagName(header.typeflag)}, which infra.operator cannot read: ` +
          'the archive is damaged, or was written with vendor extensions; re-create it with GNU tar or bsdtar',
      );
    }
    checkSize(member.size);
    const sparseName = records.get(PAX_KEY.sparseName)?.toString('latin1');
    if (type === 'file' && sparseName !== undefined) path = sparseName;
    const entry = tarEntry(member, path, type);
    const kept = keptRecords(records, options.keepRecords);
    if (kept) entry.records = kept;
    // Types 2-6 carry no data (POSIX ustar); hard links and dumpdirs may, and it is skipped.
    const dataSize = hasData(header.typeflag) ? member.size : 0;
    let mapSize = 0;
    if (type === 'file') {
      const sparse = await readSparseMap(reader, member, where);
      if (sparse) {
        entry.sparse = sparse.regions;
        entry.size = sparse.realSize;
        mapSize = sparse.mapSize;
        checkSize(entry.size);
      }
    }
    const body = new MemberBody(reader, entry.path, dataSize - mapSize, type === 'file', padding(dataSize));
    return { entry, body };
  } catch (err) {
    if (err instanceof PaxFormatError) throw damaged(`${where()} has a malformed extended header: ${err.message}`);
    throw err;
  }
}

/** The entry a member's headers describe: PAX records win over header fields. */
function tarEntry(member: MemberHeaders, path: string, type: TarEntry['type']): TarEntry {
  const { header, records } = member;
  const entry: TarEntry = {
    path,
    type,
    mode: header.mode & 0o7777,
    uid: numberRecord(records, PAX_KEY.uid) ?? header.uid,
    gid: numberRecord(records, PAX_KEY.gid) ?? header.gid,
    uname: records.get(PAX_KEY.uname)?.toString('latin1') ?? header.uname,
    gname: records.get(PAX_KEY.gname)?.toString('latin1') ?? header.gname,
    size: type === 'file' ? member.size : 0,
    mtime: timeRecord(records, PAX_KEY.mtime) ?? wholeSeconds(header.mtime),
    linkname: member.linkname,
    devMajor: numberRecord(records, PAX_KEY.devmajor) ?? header.devMajor,
    devMinor: numberRecord(records, PAX_KEY.devminor) ?? header.devMinor,
    xattrs: paxXattrs(records),
  };
  const atime = timeRecord(records, PAX_KEY.atime) ?? optionalSeconds(header.atime);
  const ctime = timeRecord(records, PAX_KEY.ctime) ?? optionalSeconds(header.ctime);
  if (atime) entry.atime = atime;
  if (ctime) entry.ctime = ctime;
  return entry;
}

/** The records of `keys` a member has, or nothing when it has none of them. */
function keptRecords(records: Map<string, Buffer>, keys: readonly string[] | undefined): Map<string, Buffer> | undefined {
  const kept = new Map((keys ?? []).filter((key) => records.has(key)).map((key) => [key, records.get(key)!]));
  return kept.size > 0 ? kept : undefined;
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
      if (piece === undefined) throw damaged(truncatedBody(`the entry "${printable(this.path)}"`, this.size, this.read).message);
      this.read += piece.length;
      yield piece;
    }
  }

  /** Skips what the consumer left unread, and the padding to the next block. */
  async finish(): Promise<void> {
    this.finished = true;
    const unread = this.size - this.read;
    const skipped = await this.reader.skip(unread + this.padding);
    if (skipped < unread) throw damaged(truncatedBody(`the entry "${printable(this.path)}"`, this.size, this.read + skipped).message);
    if (skipped < unread + this.padding) {
      throw damaged(`the archive ends inside the padding after entry "${printable(this.path)}"`);
    }
  }
}

function wholeSeconds(sec: number): Timestamp {
  return { sec, nsec: 0 };
}

function optionalSeconds(sec: number | undefined): Timestamp | undefined {
  return sec === undefined ? undefined : { sec, nsec: 0 };
}

/** A described format error, as the reader's `TAR` error. */
function worded(err: unknown): never {
  throw err instanceof TarFormatError ? damaged(err.message) : err;
}

function damaged(detail: string): InfraError {
  return new InfraError('TAR', `${detail}: the archive is damaged or truncated; download or create it again`);
}

/**
 * The headers that make up one member: PAX extended headers (`x`, Solaris `X`, global
 * `g`), GNU long names (`L`, `K`) and volume labels (`V`) before the member's own header.
 * The streaming reader and the archive index both read members through `HeaderSequence`,
 * so names, link names and sizes come out the same in both.
 */
import { printable } from '../errors.js';
import { BLOCK_SIZE, TYPE } from './format.js';
import { cString, decodeHeader, describeEntry, isZeroBlock, padding, TarFormatError, truncatedBody, type Header } from './header.js';
import { numberRecord, PAX_KEY, PaxFormatError, parsePax, type PaxHeader } from './pax.js';

/** Where headers come from: a stream (`ByteReader`) or a file read in place. */
export interface BlockSource {
  /** The offset of the next byte. */
  readonly position: number;
  /** Exactly `n` bytes, or fewer only at the end; the caller owns them. */
  read(n: number): Promise<Buffer>;
  /** Discards `n` bytes; returns how many there were (fewer only at the end). */
  skip(n: number): Promise<number>;
}

/** One member's own header with everything the extension headers before it said. */
export interface MemberHeaders {
  header: Header;
  /** Global PAX records, then this member's own (an empty own value cancels a global one). */
  records: Map<string, Buffer>;
  /** This member's own extended header, if any (GNU sparse 0.0 keeps its pairs there). */
  pax?: PaxHeader;
  /** PAX `path`, else the GNU long name, else the header's name; a byte string. */
  path: string;
  /** PAX `linkpath`, else the GNU long link name, else the header's; a byte string. */
  linkname: string;
  /** Stored bytes after the header: PAX `size`, else the header's. */
  size: number;
}

/** Extended headers and GNU long names are read into memory; larger ones are rejected. */
const MAX_METADATA_BODY = 16 * 1024 * 1024;

/** Global PAX records that make no sense for every following entry, so are not applied. */
const GLOBAL_IGNORED = new Set<string>([PAX_KEY.path, PAX_KEY.linkpath, PAX_KEY.size]);

/** Reads members' headers one after another; the caller consumes or skips each body. */
export class HeaderSequence {
  private readonly globals = new Map<string, Buffer>();

  constructor(private readonly source: BlockSource) {}

  /** The next member's headers; undefined at the end of the archive. */
  async next(): Promise<MemberHeaders | undefined> {
    let pax: PaxHeader | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const offset = this.source.position;
      const block = await this.source.read(BLOCK_SIZE);
      // EOF at a header boundary: GNU tar accepts it silently, so do we.
      if (block.length === 0) return undefined;
      if (block.length < BLOCK_SIZE) {
        throw new TarFormatError(`the archive ends inside a header at byte ${offset} (${block.length} of ${BLOCK_SIZE} bytes)`);
      }
      // One zero block ends the archive, as in GNU tar.
      if (isZeroBlock(block)) return undefined;
      const header = decodeHeader(block, offset);
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
          await skipStored(this.source, `the entry "${printable(header.name)}"`, header.size);
          continue;
        default:
          return this.member(header, pax, longName, longLink);
      }
    }
  }

  private member(header: Header, pax: PaxHeader | undefined, longName: string | undefined, longLink: string | undefined): MemberHeaders {
    const records = new Map(this.globals);
    for (const [key, value] of pax?.records ?? []) {
      if (value.length === 0) records.delete(key);
      else records.set(key, value);
    }
    const path = records.get(PAX_KEY.path)?.toString('latin1') ?? longName ?? header.name;
    const linkname = records.get(PAX_KEY.linkpath)?.toString('latin1') ?? longLink ?? header.linkname;
    let size: number;
    try {
      size = numberRecord(records, PAX_KEY.size) ?? header.size;
    } catch (err) {
      if (!(err instanceof PaxFormatError)) throw err;
      throw new TarFormatError(`${describeEntry(path, header.offset)} has a malformed extended header: ${err.message}`);
    }
    return { header, records, ...(pax ? { pax } : {}), path, linkname, size };
  }

  private async readPax(header: Header): Promise<PaxHeader> {
    const body = await this.readMetadataBody(header, 'extended header');
    try {
      return parsePax(body);
    } catch (err) {
      if (!(err instanceof PaxFormatError)) throw err;
      throw new TarFormatError(`the extended header "${printable(header.name)}" at byte ${header.offset} is malformed: ${err.message}`);
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
    const described = `the ${what} "${printable(header.name)}"`;
    if (header.size > MAX_METADATA_BODY) {
      throw new TarFormatError(`${described} at byte ${header.offset} claims ${header.size} bytes`);
    }
    const body = await this.source.read(header.size);
    const pad = await this.source.skip(padding(header.size));
    if (body.length < header.size) throw truncatedBody(described, header.size, body.length);
    if (pad < padding(header.size)) throw new TarFormatError(`the archive ends inside the padding after ${described}`);
    return body;
  }
}

/** Skips `size` stored bytes and their padding, which must all be there. */
export async function skipStored(source: BlockSource, described: string, size: number): Promise<void> {
  const want = size + padding(size);
  const got = await source.skip(want);
  if (got < size) throw truncatedBody(described, size, got);
  if (got < want) throw new TarFormatError(`the archive ends inside the padding after ${described}`);
}

function mergeLocal(earlier: PaxHeader | undefined, later: PaxHeader): PaxHeader {
  if (!earlier) return later;
  return {
    records: new Map([...earlier.records, ...later.records]),
    sparsePairs: later.sparsePairs.length > 0 ? later.sparsePairs : earlier.sparsePairs,
  };
}

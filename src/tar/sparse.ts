/**
 * GNU sparse files (GNU tar `sparse.c`): the old-GNU `S` type with its map in the header
 * and extension blocks, and the PAX formats 0.0 (repeated offset/numbytes records), 0.1
 * (`GNU.sparse.map`) and 1.0 (the map as decimal lines in whole blocks before the data).
 */
import type { SparseRegion } from '../tree/tree.js';
import type { BlockSource, MemberHeaders } from './extensions.js';
import { BLOCK_SIZE, OLDGNU, OLDGNU_SPARSE_ENTRIES, SPARSE_ENTRY, SPARSE_ENTRY_SIZE, SPARSE_EXTENSION, SPARSE_EXTENSION_ENTRIES, TYPE } from './format.js';
import { readNumber, TarFormatError, truncatedBody, type Header } from './header.js';
import { numberRecord, PAX_KEY, PaxFormatError, paxInteger } from './pax.js';

export interface SparseMap {
  regions: SparseRegion[];
  realSize: number;
  /** Bytes of the stored data the map itself takes (PAX 1.0), already read. */
  mapSize: number;
}

/** The sparse map of an old-GNU 'S' member or a PAX GNU.sparse member, if it is one. */
export async function readSparseMap(source: BlockSource, member: MemberHeaders, where: () => string): Promise<SparseMap | undefined> {
  const { header, records, pax, size: storedSize } = member;
  if (header.typeflag === TYPE.gnuSparse) {
    const { regions, realSize } = await oldGnuSparseMap(source, header, where);
    return { regions: checkSparse(regions, realSize, storedSize, where), realSize, mapSize: 0 };
  }
  const version = sparseVersion(records, pax?.sparsePairs ?? []);
  if (version === undefined) return undefined;
  const realSize = numberRecord(records, PAX_KEY.sparseRealSize) ?? numberRecord(records, PAX_KEY.sparseSize);
  if (realSize === undefined) throw new TarFormatError(`${where()} is a GNU sparse file without its real size`);
  if (version === '1.0') {
    const { numbers, mapSize } = await sparseMapInData(source, storedSize, where);
    const regions = sparsePairs(numbers.slice(1), where);
    return { regions: checkSparse(regions, realSize, storedSize - mapSize, where), realSize, mapSize };
  }
  const flat =
    version === '0.0'
      ? (pax?.sparsePairs ?? [])
      : (records.get(PAX_KEY.sparseMap)?.toString('latin1') ?? '').split(',').filter((s) => s !== '');
  const numbers = flat.map((text) => paxInteger(Buffer.from(text, 'latin1'), 'GNU.sparse map'));
  return { regions: checkSparse(sparsePairs(numbers, where), realSize, storedSize, where), realSize, mapSize: 0 };
}

/** Old GNU: four map entries in the header, then 21 per extension block while isextended. */
async function oldGnuSparseMap(source: BlockSource, header: Header, where: () => string): Promise<{ regions: SparseRegion[]; realSize: number }> {
  const regions = readSparseEntries(header.block, OLDGNU.sp[0], OLDGNU_SPARSE_ENTRIES, where);
  let extended = header.block[OLDGNU.isextended[0]] !== 0;
  while (extended) {
    const offset = source.position;
    const block = await source.read(BLOCK_SIZE);
    if (block.length < BLOCK_SIZE) {
      throw new TarFormatError(`the archive ends inside the sparse map of ${where()} at byte ${offset}`);
    }
    regions.push(...readSparseEntries(block, SPARSE_EXTENSION.sp[0], SPARSE_EXTENSION_ENTRIES, where));
    extended = block[SPARSE_EXTENSION.isextended[0]] !== 0;
  }
  const realSize = readNumber(header.block, OLDGNU.realsize, 'realsize', where);
  if (realSize === undefined) throw new TarFormatError(`${where()} is a GNU sparse file without its real size`);
  return { regions, realSize };
}

/** GNU sparse 1.0: decimal numbers, one per line, in whole blocks before the data. */
async function sparseMapInData(source: BlockSource, storedSize: number, where: () => string): Promise<{ numbers: number[]; mapSize: number }> {
  const numbers: number[] = [];
  let wanted = 1;
  let text = '';
  let mapSize = 0;
  while (numbers.length < wanted) {
    if (mapSize + BLOCK_SIZE > storedSize) throw new TarFormatError(`${where()} has a sparse map longer than its data`);
    const block = await source.read(BLOCK_SIZE);
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

/** Which GNU sparse PAX format a member uses (GNU tar `sparse.c`), if any. */
function sparseVersion(records: Map<string, Buffer>, pairs: string[]): '0.0' | '0.1' | '1.0' | undefined {
  const major = records.get(PAX_KEY.sparseMajor)?.toString('latin1');
  const minor = records.get(PAX_KEY.sparseMinor)?.toString('latin1');
  if (major !== undefined || minor !== undefined) {
    const version = `${major ?? '?'}.${minor ?? '?'}`;
    if (version === '1.0' || version === '0.0' || version === '0.1') return version;
    throw new PaxFormatError(`GNU sparse format ${version} is not supported`);
  }
  if (records.has(PAX_KEY.sparseMap)) return '0.1';
  if (pairs.length > 0) return '0.0';
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
  if (numbers.length % 2 !== 0) throw new TarFormatError(`${where()} has a sparse map with an odd number of values`);
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
      throw new TarFormatError(
        `${where()} has a sparse map with a region at ${region.offset}+${region.length} out of order or past its size ${realSize}`,
      );
    }
    end = region.offset + region.length;
    total += region.length;
    if (region.length > 0) kept.push(region);
  }
  if (total !== storedSize) {
    throw new TarFormatError(`${where()} has a sparse map covering ${total} bytes but stores ${storedSize}`);
  }
  return kept;
}

/**
 * Writes tar archives of regular files: POSIX ustar headers (format.ts), a long name split
 * at a `/` into `prefix` and `name`, and, when asked, a PAX extended header for a name or
 * number no ustar field can hold. Names are byte strings (latin1, see tree.ts).
 */
import { InfraError, printable } from '../errors.js';
import { BLOCK_SIZE, MAGIC_USTAR, TYPE, USTAR } from './format.js';
import { headerChecksum, padding, type Header } from './header.js';
import { PAX_KEY } from './pax.js';

export interface TarFile {
  /** Byte string. */
  path: string;
  data: Buffer;
  /** Default 0o644. */
  mode?: number;
  /** Default 0. */
  uid?: number;
  gid?: number;
  /** Whole seconds; default 0 (1970). */
  mtime?: number;
}

export interface WriteTarOptions {
  /** Write a PAX header where ustar fields fall short; otherwise such a file is refused. */
  pax?: boolean;
}

/** POSIX ustar `version` for `magic` "ustar\0". */
const USTAR_VERSION = '00';

/** A complete archive: each file, then two zero blocks (POSIX end of archive). */
export function writeTar(files: readonly TarFile[], options: WriteTarOptions = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    blocks.push(...fileHeaders(file, options), file.data, Buffer.alloc(padding(file.data.length)));
  }
  blocks.push(Buffer.alloc(2 * BLOCK_SIZE));
  return Buffer.concat(blocks);
}

function fileHeaders(file: TarFile, options: WriteTarOptions): Buffer[] {
  const numbers = { uid: file.uid ?? 0, gid: file.gid ?? 0, size: file.data.length, mtime: file.mtime ?? 0 };
  const records: Array<[string, string]> = [];
  const split = splitName(file.path);
  if (!split) records.push([PAX_KEY.path, file.path]);
  for (const key of ['uid', 'gid', 'size', 'mtime'] as const) {
    if (!fitsOctal(numbers[key], USTAR[key])) records.push([PAX_KEY[key], String(numbers[key])]);
  }
  if (records.length > 0 && !options.pax) {
    throw new InfraError(
      'USAGE',
      `"${printable(file.path)}" does not fit a ustar header (${records.map(([key]) => key).join(', ')}): ` +
        'use a name of at most 100 bytes after a directory part of at most 155, and sizes under 8 GiB',
    );
  }
  const clamp = (key: keyof typeof numbers) => (fitsOctal(numbers[key], USTAR[key]) ? numbers[key] : 0);
  const main = ustarHeader({
    ...(split ?? { prefix: '', name: file.path.slice(-USTAR.name[1]) }),
    mode: file.mode ?? 0o644,
    uid: clamp('uid'),
    gid: clamp('gid'),
    size: clamp('size'),
    mtime: clamp('mtime'),
    typeflag: TYPE.file,
  });
  if (records.length === 0) return [main];
  const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  const paxName = `PaxHeaders/${file.path.slice(file.path.lastIndexOf('/') + 1)}`.slice(0, USTAR.name[1]);
  const pax = ustarHeader({ prefix: '', name: paxName, mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, typeflag: TYPE.paxLocal });
  return [pax, body, Buffer.alloc(padding(body.length)), main];
}

/** `prefix` and `name` for a path, split at the last `/` that lets both fit; undefined if none does. */
function splitName(path: string): { prefix: string; name: string } | undefined {
  if (path.length <= USTAR.name[1]) return { prefix: '', name: path };
  const cut = path.lastIndexOf('/', USTAR.prefix[1]);
  if (cut <= 0 || path.length - cut - 1 > USTAR.name[1]) return undefined;
  return { prefix: path.slice(0, cut), name: path.slice(cut + 1) };
}

function fitsOctal(value: number, [, length]: readonly [number, number]): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (length - 1);
}

/** What the writer sets of a header; `prefix` and `name` are the split path. */
type UstarFields = Pick<Header, 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'typeflag'> & { prefix: string; name: string };

function ustarHeader(fields: UstarFields): Buffer {
  const header = Buffer.alloc(BLOCK_SIZE);
  const put = (field: readonly [number, number], value: string) => header.write(value, field[0], field[1], 'latin1');
  // Octal with leading zeros and a NUL, as GNU tar and bsdtar write them.
  const octal = (field: readonly [number, number], n: number) => put(field, `${n.toString(8).padStart(field[1] - 1, '0')}\0`);
  put(USTAR.name, fields.name);
  octal(USTAR.mode, fields.mode);
  octal(USTAR.uid, fields.uid);
  octal(USTAR.gid, fields.gid);
  octal(USTAR.size, fields.size);
  octal(USTAR.mtime, fields.mtime);
  header[USTAR.typeflag[0]] = fields.typeflag;
  put(USTAR.magic, MAGIC_USTAR);
  put(USTAR.version, USTAR_VERSION);
  put(USTAR.prefix, fields.prefix);
  put(USTAR.chksum, `${headerChecksum(header).unsigned.toString(8).padStart(6, '0')}\0 `);
  return header;
}

/** "<length> <key>=<value>\n", where the length counts its own digits (POSIX `pax`). */
function paxRecord(key: string, value: string): Buffer {
  const payload = Buffer.from(` ${key}=${value}\n`, 'latin1');
  let length = payload.length + 1;
  while (String(length).length + payload.length !== length) length++;
  return Buffer.concat([Buffer.from(String(length), 'latin1'), payload]);
}

/**
 * Random access into an uncompressed tar archive (`docker save` output, OCI archives):
 * reads only the headers, records where each member's bytes are, and resolves the
 * symbolic and hard links `docker save` uses for repeated layers. Member bodies are
 * then read in place, never extracted.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { InfraError } from '../errors.js';
import { parsePax, PAX_KEY } from './pax.js';
import { BLOCK_SIZE, TYPE, USTAR } from './format.js';

export interface ArchiveMember {
  offset: number;
  size: number;
}

type Raw = ArchiveMember & { link?: string; hard?: boolean };

/** A link chain longer than this is a loop. */
const MAX_LINKS = 16;
/** Long names and extended headers above this are not what image archives contain. */
const MAX_META_BODY = 1 << 20;

export class TarIndex {
  private constructor(
    readonly file: string,
    private readonly members: Map<string, Raw>,
  ) {}

  static async read(file: string): Promise<TarIndex> {
    const handle = await open(file, 'r');
    try {
      return new TarIndex(file, await readHeaders(handle, file));
    } finally {
      await handle.close();
    }
  }

  /** The regular file at `name` (links followed), or undefined. */
  find(name: string): ArchiveMember | undefined {
    let path = normalise(name);
    for (let hops = 0; hops < MAX_LINKS; hops++) {
      const member = this.members.get(path);
      if (!member || member.link === undefined) return member && { offset: member.offset, size: member.size };
      path = member.hard ? normalise(member.link) : normalise(posix.join(posix.dirname(path), member.link));
    }
    return undefined;
  }

  async readText(name: string): Promise<Buffer | undefined> {
    const member = this.find(name);
    if (!member) return undefined;
    const handle = await open(this.file, 'r');
    try {
      return await readAt(handle, member.offset, member.size);
    } finally {
      await handle.close();
    }
  }
}

function normalise(name: string): string {
  return posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

function field(header: Buffer, [offset, length]: readonly [number, number]): Buffer {
  const raw = header.subarray(offset, offset + length);
  const nul = raw.indexOf(0);
  return nul >= 0 ? raw.subarray(0, nul) : raw;
}

/** Octal, or GNU base-256 when the high bit of the first byte is set. */
function numeric(header: Buffer, [offset, length]: readonly [number, number]): number {
  const raw = header.subarray(offset, offset + length);
  if (raw[0]! & 0x80) {
    let value = raw[0]! & 0x7f;
    for (const byte of raw.subarray(1)) value = value * 256 + byte;
    return value;
  }
  const text = field(header, [offset, length]).toString('latin1').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

async function readHeaders(handle: FileHandle, file: string): Promise<Map<string, Raw>> {
  const members = new Map<string, Raw>();
  const corrupt = (why: string) =>
    new InfraError('INPUT', `${file} is not a readable tar archive (${why}); an image archive must be an uncompressed tar`);
  let position = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  for (;;) {
    const header = await readAt(handle, position, BLOCK_SIZE);
    if (header.length < BLOCK_SIZE) throw corrupt(`truncated at byte ${position}`);
    if (header.every((b) => b === 0)) return members;
    const size = numeric(header, USTAR.size);
    if (Number.isNaN(size)) throw corrupt(`bad size field at byte ${position}`);
    const type = header[USTAR.typeflag[0]]!;
    const bodyAt = position + BLOCK_SIZE;
    position = bodyAt + Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
    if (type === TYPE.gnuLongName || type === TYPE.paxLocal || type === TYPE.solarisPax) {
      if (size > MAX_META_BODY) throw corrupt(`oversized extended header at byte ${bodyAt}`);
      const body = await readAt(handle, bodyAt, size);
      if (type === TYPE.gnuLongName) longName = field(body, [0, body.length]).toString('utf8');
      else paxPath = parsePax(body).records.get(PAX_KEY.path)?.toString('utf8') ?? paxPath;
      continue;
    }
    const prefix = field(header, USTAR.prefix).toString('utf8');
    const ustarName = field(header, USTAR.name).toString('utf8');
    const name = normalise(paxPath ?? longName ?? (prefix ? `${prefix}/${ustarName}` : ustarName));
    longName = paxPath = undefined;
    if (type === TYPE.file || type === TYPE.oldFile || type === TYPE.contiguous) {
      members.set(name, { offset: bodyAt, size });
    } else if (type === TYPE.symlink || type === TYPE.hardlink) {
      const link = field(header, USTAR.linkname).toString('utf8');
      members.set(name, { offset: 0, size: 0, link, hard: type === TYPE.hardlink });
    }
  }
}

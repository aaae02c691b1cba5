/**
 * Random access into an uncompressed tar archive (`docker save` output, OCI archives):
 * reads only the headers (through the same `HeaderSequence` and header decoder as the
 * streaming reader), records where each member's bytes are, and resolves the symbolic
 * and hard links `docker save` uses for repeated layers. Member bodies are then read in
 * place, never extracted. Names are byte strings (latin1), as in the reader.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { InfraError, printable } from '../errors.js';
import { HeaderSequence, skipStored, type BlockSource } from './extensions.js';
import { TYPE } from './format.js';
import { entryType, hasData, TarFormatError } from './header.js';

export interface ArchiveMember {
  offset: number;
  size: number;
}

type Raw = ArchiveMember & { link?: string; hard?: boolean };

/** A link chain longer than this is a loop. */
const MAX_LINKS = 16;

export class TarIndex {
  private constructor(
    readonly file: string,
    private readonly members: Map<string, Raw>,
  ) {}

  static async read(file: string): Promise<TarIndex> {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      return new TarIndex(file, await readMembers(new FileBlocks(handle, size)));
    } catch (err) {
      if (!(err instanceof TarFormatError)) throw err;
      throw new InfraError('INPUT', `${file} is not a readable tar archive (${err.message}); an image archive must be an uncompressed tar`);
    } finally {
      await handle.close();
    }
  }

  /** The regular file at `name`, a byte string (links followed), or undefined. */
  find(name: string): ArchiveMember | undefined {
    let path = normalise(name);
    for (let hops = 0; hops < MAX_LINKS; hops++) {
      const member = this.members.get(path);
      if (!member || member.link === undefined) return member && { offset: member.offset, size: member.size };
      path = member.hard ? normalise(member.link) : normalise(posix.join(posix.dirname(path), member.link));
    }
    return undefined;
  }

  /** The bytes of the regular file at `name`, a byte string (links followed), or undefined. */
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

/** The byte string an archive stores a name as, for a name written in a JSON document. */
export function storedName(name: string): string {
  return Buffer.from(name, 'utf8').toString('latin1');
}

function normalise(name: string): string {
  return posix.normalize(`/${name}`).slice(1).replace(/\/$/, '');
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  return buffer.subarray(0, bytesRead);
}

/** Headers read from the file in place; bodies are skipped by moving the position. */
class FileBlocks implements BlockSource {
  position = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {}

  async read(n: number): Promise<Buffer> {
    const bytes = await readAt(this.handle, this.position, Math.min(n, this.size - this.position));
    this.position += bytes.length;
    return bytes;
  }

  async skip(n: number): Promise<number> {
    const skipped = Math.min(n, this.size - this.position);
    this.position += skipped;
    return skipped;
  }
}

/** Regular files by name with where their bytes are; links by name with their target. */
async function readMembers(source: FileBlocks): Promise<Map<string, Raw>> {
  const members = new Map<string, Raw>();
  const headers = new HeaderSequence(source);
  for (;;) {
    const member = await headers.next();
    if (member === undefined) return members;
    const { header, size } = member;
    const name = normalise(member.path);
    const type = entryType(header.typeflag, member.path);
    // An old-GNU sparse member's stored bytes are not the file's content: not indexed.
    if (type === 'file' && header.typeflag !== TYPE.gnuSparse) {
      members.set(name, { offset: source.position, size });
    } else if (type === 'symlink' || type === 'hardlink') {
      members.set(name, { offset: 0, size: 0, link: member.linkname, hard: type === 'hardlink' });
    }
    await skipStored(source, `the entry "${printable(member.path)}"`, hasData(header.typeflag) ? size : 0);
  }
}

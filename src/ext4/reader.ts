/**
 * Looks inside an ext4 image without mounting it, through libext2fs (the `ext2fs` WASM
 * package): a reader independent of our writer. The image is opened read-only: the disk
 * refuses writes, and files are opened with O_NOATIME so reading never needs one.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import ext2fs, { type Ext2fsDisk, type Ext2fsMounted, type Ext2fsStats } from 'ext2fs';
import { InfraError } from '../errors.js';

const READ_CHUNK = 1 << 20;

export interface DirectoryEntry {
  name: string;
  /** ls-style type letter: d, -, l, c, b, p, s. */
  type: string;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  permissions: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target, for type `l`. */
  target?: string;
}

/** Opens `imagePath` read-only with libext2fs, runs `fn`, and always unmounts. */
export async function withImage<T>(imagePath: string, fn: (image: Ext4Image) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(imagePath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'DISK';
    throw new InfraError(code, `Cannot open ${imagePath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    let mounted: Ext2fsMounted;
    try {
      mounted = await ext2fs.mount(readOnlyDisk(fh), 0);
    } catch (err) {
      throw new InfraError('INPUT', `libext2fs cannot open ${imagePath} as ext2/3/4 (${(err as Error).message}); check it with 'e2fsck -fn ${imagePath}'.`, { cause: err });
    }
    try {
      return await fn(new Ext4Image(mounted, imagePath));
    } finally {
      await ext2fs.umount(mounted);
    }
  } finally {
    await fh.close();
  }
}

function readOnlyDisk(fh: FileHandle): Ext2fsDisk {
  const refuse = (): never => {
    throw Object.assign(new Error('the image is opened read-only'), { code: 'EROFS' });
  };
  return {
    read: async (buffer, bufferOffset, length, fileOffset) => {
      const { bytesRead } = await fh.read(buffer, bufferOffset, length, fileOffset);
      return { bytesRead, buffer };
    },
    write: async () => refuse(),
    discard: async () => refuse(),
    flush: async () => {},
  };
}

export class Ext4Image {
  constructor(
    private readonly mounted: Ext2fsMounted,
    private readonly imagePath: string,
  ) {}

  /** Entries of directory `dir` (absolute inside the image; libext2fs omits . and ..), sorted by name. */
  async list(dir: string): Promise<DirectoryEntry[]> {
    const path = absolute(dir);
    const fs = this.mounted.promises;
    // stat, not lstat: `--ls /bin` lists /usr/bin on a usrmerge image (libext2fs follows the link).
    const stats = await this.call('stat', path, () => fs.stat(path));
    if (!stats.isDirectory()) throw new InfraError('INPUT', `${path} in ${this.imagePath} is not a directory; use --cat for files.`);
    const names = await this.call('list', path, () => fs.readdir(path, { encoding: 'buffer' }));
    const entries: DirectoryEntry[] = [];
    for (const raw of names) {
      const name = raw.toString('utf8');
      const child = posix.join(path, name);
      const st = await this.call('stat', child, () => fs.lstat(child));
      const entry = toEntry(name, st);
      if (entry.type === 'l') entry.target = await this.call('readlink', child, () => fs.readlink(child));
      entries.push(entry);
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Streams the contents of regular file `file` (symlinks followed inside the image). */
  async *read(file: string): AsyncGenerator<Buffer> {
    const path = absolute(file);
    const fs = this.mounted.promises;
    const handle = await this.call('open', path, () => fs.open(path, fs.constants.O_RDONLY | fs.constants.O_NOATIME));
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new InfraError('INPUT', `${path} in ${this.imagePath} is not a regular file; use --ls for directories.`);
      for (let position = 0; position < st.size; ) {
        const buffer = Buffer.alloc(Math.min(READ_CHUNK, st.size - position));
        const { bytesRead } = await this.call('read', path, () => handle.read(buffer, 0, buffer.length, position));
        if (bytesRead === 0) throw new InfraError('INPUT', `${path} in ${this.imagePath} ends at ${position} bytes, before its size ${st.size}.`);
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  }

  /** Runs one libext2fs call on `path`, turning its errno into an InfraError. */
  private async call<T>(verb: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new InfraError('NOT_FOUND', `${path} does not exist in ${this.imagePath}; --ls DIR shows what is there.`);
      throw new InfraError('INPUT', `Cannot ${verb} ${path} in ${this.imagePath}: ${code ?? (err as Error).message}.`, { cause: err });
    }
  }
}

/** Paths inside the image are absolute; `etc` means `/etc`. */
function absolute(path: string): string {
  return posix.normalize(`/${path}`);
}

function toEntry(name: string, st: Ext2fsStats): DirectoryEntry {
  return {
    name,
    type: typeLetter(st.mode),
    permissions: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
  };
}

/** The S_IFMT values of POSIX <sys/stat.h> as ls prints them. */
function typeLetter(mode: number): string {
  const letters: Record<number, string> = {
    0o040000: 'd',
    0o100000: '-',
    0o120000: 'l',
    0o020000: 'c',
    0o060000: 'b',
    0o010000: 'p',
    0o140000: 's',
  };
  return letters[mode & 0o170000] ?? '?';
}

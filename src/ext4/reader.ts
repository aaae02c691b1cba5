/**
 * Looks inside an ext4 image without mounting it: the superblock through the one
 * declaration in format.ts, directories and files through libext2fs (the `ext2fs` WASM
 * package), a reader independent of our writer. The image is opened read-only: the disk
 * refuses writes, and files are opened with O_NOATIME so reading never needs one.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import ext2fs, { type Ext2fsDisk, type Ext2fsMounted, type Ext2fsStats } from 'ext2fs';
import binding from 'ext2fs/lib/binding.js';
import { useObject, usePath, withHooks } from 'ext2fs/lib/util.js';
import { InfraError, isInfraError } from '../errors.js';
import {
  EXT4_ERROR_FS,
  EXT4_SUPER_MAGIC,
  EXT4_VALID_FS,
  FILE_TYPES,
  INCOMPAT,
  S_IFMT,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  decodeSuperblock,
  featureNames,
  formatUuid,
} from './format.js';

const READ_CHUNK = 1 << 20;

export interface DirectoryEntry {
  /** The name's bytes as a latin1 byte string (one char per byte, as the tree keeps names). */
  name: string;
  /** ls-style type letter: d, -, l, c, b, p, s. */
  type: string;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  permissions: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink target, for type `l`: a latin1 byte string like `name`. */
  target?: string;
}

export interface SuperblockFacts {
  blockSize: number;
  blocksCount: number;
  freeBlocks: number;
  reservedBlocks: number;
  inodesCount: number;
  freeInodes: number;
  inodeSize: number;
  /** Feature names in e2fsprogs' order: compat, incompat, ro_compat. */
  features: string[];
  uuid: string;
  volumeName: string;
  /** `clean` when s_state has EXT2_VALID_FS and not EXT2_ERROR_FS. */
  state: 'clean' | 'not clean' | 'with errors';
  /** ISO 8601, or undefined when zero. */
  createdAt?: string;
  lastWrittenAt?: string;
}

/** Reads the counts and identity of the ext2/3/4 filesystem at `path` from its superblock. */
export async function readSuperblock(path: string): Promise<SuperblockFacts> {
  const buf = Buffer.alloc(SUPERBLOCK_SIZE);
  let bytesRead: number;
  try {
    const fh = await open(path, 'r');
    try {
      ({ bytesRead } = await fh.read(buf, 0, SUPERBLOCK_SIZE, SUPERBLOCK_OFFSET));
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'DISK';
    throw new InfraError(code, `Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const sb = decodeSuperblock(buf);
  if (bytesRead < SUPERBLOCK_SIZE || sb.s_magic !== EXT4_SUPER_MAGIC) {
    throw new InfraError('INPUT', `${path} is not an ext2/3/4 filesystem image (no ext superblock magic at offset 1080).`);
  }
  // The high halves of block counts count only with the 64bit feature.
  const high = (sb.s_feature_incompat & INCOMPAT['64bit']) !== 0 ? 2 ** 32 : 0;
  return {
    blockSize: 1024 * 2 ** sb.s_log_block_size,
    blocksCount: sb.s_blocks_count_lo + sb.s_blocks_count_hi * high,
    freeBlocks: sb.s_free_blocks_count_lo + sb.s_free_blocks_count_hi * high,
    reservedBlocks: sb.s_r_blocks_count_lo + sb.s_r_blocks_count_hi * high,
    inodesCount: sb.s_inodes_count,
    freeInodes: sb.s_free_inodes_count,
    inodeSize: sb.s_inode_size,
    features: featureNames(sb),
    uuid: formatUuid(sb.s_uuid),
    volumeName: cString(sb.s_volume_name),
    state: sb.s_state & EXT4_ERROR_FS ? 'with errors' : sb.s_state & EXT4_VALID_FS ? 'clean' : 'not clean',
    createdAt: isoTime(sb.s_mkfs_time),
    lastWrittenAt: isoTime(sb.s_wtime),
  };
}

/**
 * Why the file at `path`, of `fileSize` bytes, is not a whole ext2/3/4 image, in a few
 * words; undefined when it is one (a superblock, and every block it declares present).
 */
export async function imageProblem(path: string, fileSize: number): Promise<string | undefined> {
  if (fileSize === 0) return 'empty';
  let sb: SuperblockFacts;
  try {
    sb = await readSuperblock(path);
  } catch (err) {
    if (isInfraError(err, 'INPUT')) return 'not an ext4 image (no ext4 superblock magic)';
    return `cannot be read (${(err as Error).message})`;
  }
  const declared = sb.blocksCount * sb.blockSize;
  return fileSize < declared ? `truncated: ${fileSize} of the ${declared} bytes its superblock declares` : undefined;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

function isoTime(seconds: number): string | undefined {
  return seconds === 0 ? undefined : new Date(seconds * 1000).toISOString();
}

/** Opens `rootfsPath` read-only with libext2fs, runs `fn`, and always unmounts. */
export async function withExt4File<T>(rootfsPath: string, fn: (image: Ext4File) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(rootfsPath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'DISK';
    throw new InfraError(code, `Cannot open ${rootfsPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    let mounted: Ext2fsMounted;
    try {
      mounted = await ext2fs.mount(readOnlyDisk(fh), 0);
    } catch (err) {
      throw new InfraError('INPUT', `libext2fs cannot open ${rootfsPath} as ext2/3/4 (${(err as Error).message}); check it with 'e2fsck -fn ${rootfsPath}'.`, { cause: err });
    }
    try {
      return await fn(new Ext4File(mounted, rootfsPath));
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

export class Ext4File {
  constructor(
    private readonly mounted: Ext2fsMounted,
    private readonly rootfsPath: string,
  ) {}

  /** Entries of directory `dir` (absolute inside the image; libext2fs omits . and ..), sorted by name. */
  async list(dir: string): Promise<DirectoryEntry[]> {
    const path = absolute(dir);
    const fs = this.mounted.promises;
    // stat, not lstat: `--ls /bin` lists /usr/bin on a usrmerge image (libext2fs follows the link).
    const stats = await this.call('stat', path, () => fs.stat(path));
    if (!stats.isDirectory()) throw new InfraError('INPUT', `${path} in ${this.rootfsPath} is not a directory.`, { option: 'ls', hint: 'read files with {cat}' });
    const { fsPointer } = this.mounted.promises;
    const names = await this.call('list', path, () => rawBytes('readdir', fsPointer, Buffer.from(path)));
    const entries: DirectoryEntry[] = [];
    for (const raw of names) {
      // Looked up by its bytes: decoding a non-UTF-8 name would look up another name.
      const child = Buffer.concat([Buffer.from(path === '/' ? '/' : `${path}/`), raw]);
      const shown = `${path === '/' ? '' : path}/${raw.toString('utf8')}`;
      const st = await this.call('stat', shown, () => fs.lstat(child));
      const entry = toEntry(raw.toString('latin1'), st);
      if (entry.type === 'l') {
        const [target] = await this.call('readlink', shown, () => rawBytes('readlink', fsPointer, child));
        entry.target = target!.toString('latin1');
      }
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
      if (!st.isFile()) throw new InfraError('INPUT', `${path} in ${this.rootfsPath} is not a regular file.`, { option: 'cat', hint: 'list directories with {ls}' });
      for (let position = 0; position < st.size; ) {
        const buffer = Buffer.alloc(Math.min(READ_CHUNK, st.size - position));
        const { bytesRead } = await this.call('read', path, () => handle.read(buffer, 0, buffer.length, position));
        if (bytesRead === 0) throw new InfraError('INPUT', `${path} in ${this.rootfsPath} ends at ${position} bytes, before its size ${st.size}.`);
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
      if (code === 'ENOENT') throw new InfraError('NOT_FOUND', `${path} does not exist in ${this.rootfsPath}.`, { hint: '{ls} DIR shows what is there' });
      throw new InfraError('INPUT', `Cannot ${verb} ${path} in ${this.rootfsPath}: ${code ?? (err as Error).message}.`, { cause: err });
    }
  }
}

/**
 * The names in a directory, or a symlink's target, as the image stores them. ext2fs
 * 4.2.5's readdir and readlink decode them as UTF-8 whatever `encoding` says (its
 * getOptions lets the default win), losing non-UTF-8 bytes; this makes their binding call
 * without the decoding.
 */
const rawBytes = withHooks(async (op: 'readdir' | 'readlink', fsPointer: number, path: Buffer): Promise<Buffer[]> => {
  const [found, foundId] = await useObject<Buffer[]>([]);
  await binding[op](fsPointer, await usePath(path), foundId);
  return found;
});

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

/** The ls letter of an i_mode's type bits; '?' for a type ext4 does not define. */
function typeLetter(mode: number): string {
  return Object.values(FILE_TYPES).find((type) => type.mode === (mode & S_IFMT))?.letter ?? '?';
}

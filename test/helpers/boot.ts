/**
 * Boot-test images: a root directory (the Alpine fixture, a cached debootstrap minbase
 * tree, or busybox alone) loaded into the in-memory tree, made bootable by the real
 * makeBootable, written back to a directory and turned into ext4 by `mke2fs -d` (until
 * the project's own ext4 writer is used here), then booted by the real CLI.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, readdirSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import {
  chmod,
  chown,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDir } from '../../src/tree/tree.js';
import type { DataSink, DirInode, Inode, InodeMeta, Timestamp } from '../../src/tree/tree.js';
import { Ext4Writer } from '../../src/ext4/writer.js';
import { makeBootable } from '../../src/boot/bootable.js';
import type { BootOptions, BootReport } from '../../src/boot/bootable.js';
import { ALPINE_X86 } from './env.js';
import { contentBytes, hostFile, isHostContent, MemorySink } from './memory-sink.js';
import { makeExt4 } from './mke2fs.js';

function metaOf(st: BigIntStats): InodeMeta {
  const ts = (ns: bigint): Timestamp => ({ sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) });
  return {
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    atime: ts(st.atimeNs),
    mtime: ts(st.mtimeNs),
    ctime: ts(st.ctimeNs),
    xattrs: new Map(),
  };
}

/**
 * Reads a host directory into a tree (hard links kept as shared inodes). File bytes are
 * streamed into `sink` when given (the ext4 writer); otherwise the tree refers to the
 * host files (`hostFile`, see materialize).
 */
export async function loadTree(dir: string, sink?: DataSink): Promise<DirInode> {
  const rootStat = await lstat(dir, { bigint: true });
  const root = makeDir(metaOf(rootStat));
  const seen = new Map<string, Inode>();
  async function fill(into: DirInode, path: string): Promise<void> {
    for (const name of await readdir(path)) {
      const full = join(path, name);
      const st = await lstat(full, { bigint: true });
      const meta = metaOf(st);
      const key = `${st.dev}:${st.ino}`;
      let inode: Inode;
      if (st.isDirectory()) {
        const child = makeDir(meta);
        await fill(child, full);
        inode = child;
      } else if (st.isFile()) {
        const known = seen.get(key);
        if (known) {
          inode = known;
        } else {
          const size = Number(st.size);
          const content = sink ? await sink.writeFile(createReadStream(full), size) : hostFile(full, size);
          inode = { kind: 'file', ...meta, content };
          seen.set(key, inode);
        }
      } else if (st.isSymbolicLink()) {
        inode = { kind: 'symlink', ...meta, target: Buffer.from(await readlink(full, { encoding: 'buffer' })).toString('latin1') };
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const rdev = Number(st.rdev);
        inode = { kind: st.isCharacterDevice() ? 'char' : 'block', ...meta, major: (rdev >> 8) & 0xfff, minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) };
      } else if (st.isFIFO()) {
        inode = { kind: 'fifo', ...meta };
      } else {
        continue; // sockets: nothing to keep
      }
      into.children.set(Buffer.from(name, 'utf8').toString('latin1'), inode);
    }
  }
  await fill(root, dir);
  return root;
}

/** Writes a tree to an empty host directory (run as root: owners and device nodes). */
export async function materialize(root: DirInode, out: string): Promise<void> {
  const written = new Map<Inode, string>();
  async function setMeta(path: string, inode: Inode): Promise<void> {
    if (inode.kind === 'symlink') {
      await lchown(path, inode.uid, inode.gid);
      await lutimes(path, inode.atime.sec, inode.mtime.sec);
      return;
    }
    await chown(path, inode.uid, inode.gid);
    await chmod(path, inode.mode);
    await utimes(path, inode.atime.sec, inode.mtime.sec);
  }
  async function put(dir: DirInode, path: string): Promise<void> {
    for (const [rawName, inode] of dir.children) {
      const full = join(path, Buffer.from(rawName, 'latin1').toString('utf8'));
      const earlier = written.get(inode);
      if (earlier !== undefined) {
        await link(earlier, full);
        continue;
      }
      switch (inode.kind) {
        case 'dir':
          await mkdir(full);
          await put(inode, full);
          break;
        case 'file': {
          const content = inode.content;
          if (isHostContent(content)) await link(content.source, full);
          else await writeFile(full, contentBytes(content));
          written.set(inode, full);
          break;
        }
        case 'symlink':
          await symlink(Buffer.from(inode.target, 'latin1').toString('utf8'), full);
          break;
        case 'char':
        case 'block':
          execFileSync('mknod', [full, inode.kind === 'char' ? 'c' : 'b', String(inode.major), String(inode.minor)]);
          break;
        case 'fifo':
          execFileSync('mkfifo', [full]);
          break;
        case 'socket':
          continue;
      }
      await setMeta(full, inode);
    }
  }
  await mkdir(out, { recursive: true });
  await put(root, out);
  await setMeta(out, root);
}

export const TEST_TIME: Timestamp = { sec: 1_700_000_000, nsec: 0 };

export const DEFAULT_CONFIG: BootOptions['config'] = { env: [], entrypoint: [], cmd: [], workingDir: '', user: '' };

/** Which ext4 writer makes boot-test images: the project's own, or mke2fs -d as a reference. */
export type ImageWriter = 'project' | 'mke2fs';

/**
 * Builds a bootable ext4 image from a root directory: tree → makeBootable → ext4, with
 * the project's writer (the tree's files stream into it) or through a staged directory
 * and `mke2fs -d`. Returns the image path and the boot report.
 */
export async function bootableImage(
  sourceDir: string,
  workDir: string,
  options: Partial<BootOptions> = {},
  sizeMb = 512,
  writer: ImageWriter = 'project',
): Promise<{ image: string; report: BootReport }> {
  const image = join(workDir, 'rootfs.ext4');
  const boot = (tree: DirInode, sink: DataSink) =>
    makeBootable(tree, sink, {
      init: 'auto',
      guestRunner: 'builtin',
      config: DEFAULT_CONFIG,
      hostname: 'testvm',
      time: TEST_TIME,
      ...options,
    });
  if (writer === 'project') {
    const ext4 = await Ext4Writer.create(image, { size: sizeMb, contentKey: sourceDir, time: TEST_TIME, label: 'rootfs' });
    try {
      const tree = await loadTree(sourceDir, ext4);
      const report = await boot(tree, ext4);
      await ext4.finish(tree);
      return { image, report };
    } catch (err) {
      await ext4.abort();
      throw err;
    }
  }
  const tree = await loadTree(sourceDir);
  const report = await boot(tree, new MemorySink());
  const staged = join(workDir, 'staged');
  await materialize(tree, staged);
  makeExt4(image, sizeMb, staged);
  rmSync(staged, { recursive: true, force: true });
  return { image, report };
}

/** The Alpine minirootfs fixture extracted into `dir`. */
export function alpineDir(dir: string): string {
  const out = join(dir, 'alpine');
  mkdirSync(out);
  execFileSync('tar', ['-xzf', ALPINE_X86, '-C', out, '--numeric-owner']);
  return out;
}

/** Busybox alone: the host's static busybox at /bin/busybox and /bin/sh -> busybox. */
export function busyboxOnlyDir(dir: string, busybox = '/bin/busybox'): string {
  const out = join(dir, 'busybox-only');
  mkdirSync(join(out, 'bin'), { recursive: true });
  execFileSync('cp', [busybox, join(out, 'bin/busybox')]);
  execFileSync('ln', ['-s', 'busybox', join(out, 'bin/sh')]);
  return out;
}

/** Whether the file is a statically linked ELF (no PT_INTERP program header). */
export function isStaticElf(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false; // ELF64 only
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  const PT_INTERP = 3;
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === PT_INTERP) return false;
  return true;
}

/** The apt mirror of this machine (deb822 URIs: lines, else sources.list). */
export function debianMirror(): string {
  const dir = '/etc/apt/sources.list.d';
  const texts = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sources')).map((f) => readFileSync(join(dir, f), 'utf8')) : [];
  for (const text of texts) {
    const m = /^URIs:\s*(\S+)/m.exec(text);
    if (m && !/security/.test(m[1]!)) return m[1]!;
  }
  const list = existsSync('/etc/apt/sources.list') ? readFileSync('/etc/apt/sources.list', 'utf8') : '';
  const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m.exec(list);
  return m?.[1] ?? 'http://deb.debian.org/debian';
}

/**
 * A debootstrap --variant=minbase bookworm tree (plus `include` packages), built once and
 * kept in the temp dir for every later test and run (the key names the recipe; a partial
 * build is never used).
 */
export function debianMinbaseDir(include: string[] = []): string {
  const cache = join(tmpdir(), 'infra-op-cache');
  const done = join(cache, ['debian-minbase-bookworm', ...include].join('+'));
  if (existsSync(done)) return done;
  const partial = `${done}.partial-${process.pid}`;
  mkdirSync(cache, { recursive: true });
  rmSync(partial, { recursive: true, force: true });
  const includeArgs = include.length > 0 ? [`--include=${include.join(',')}`] : [];
  execFileSync('debootstrap', ['--variant=minbase', ...includeArgs, 'bookworm', partial, debianMirror()], { stdio: 'ignore', timeout: 900_000 });
  try {
    renameSync(partial, done);
  } catch (err) {
    // Another test finished first: use theirs.
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(done)) throw err;
  }
  return done;
}

/** Tools every boot test needs. */
export const BOOT_TOOLS = ['qemu-system-x86_64', 'mke2fs', 'e2fsck', 'tar', 'mknod'];

/** The machine's default kernel exists (linux-image-amd64). */
export function kernelFiles(): string[] {
  const boot = existsSync('/boot') ? readdirSync('/boot') : [];
  const kernel = boot.find((f) => f.startsWith('vmlinuz-'));
  return kernel ? [join('/boot', kernel), join('/boot', kernel.replace('vmlinuz-', 'initrd.img-'))] : ['/boot/vmlinuz-*'];
}


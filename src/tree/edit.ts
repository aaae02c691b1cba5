/**
 * Looking up and editing paths in the in-memory tree (tree.ts) the way the guest kernel
 * will see them, through the one resolver (resolve.ts): `/sbin/init` lands in `usr/sbin`
 * on usrmerge images and `/bin/sh` reaches busybox on Alpine.
 *
 * Paths here are absolute, `/`-separated byte strings (see tree.ts).
 */
import { InfraError, printable } from '../errors.js';
import { ContentRefs } from './links.js';
import { resolve, MAX_LOOKUP_COMPONENTS, type ResolveOptions, type ResolveProblem } from './resolve.js';
import { makeDir, toolMeta } from './tree.js';
import type { DataSink, DirInode, FileInode, Inode, SymlinkInode, Timestamp } from './tree.js';

export interface ResolvedPath {
  /** The directory that holds (or would hold) the last component. */
  parent: DirInode;
  /** The last component's name in `parent`. */
  name: string;
  /** What is there, or undefined when nothing is. */
  inode: Inode | undefined;
  /** The path after following symlinks, e.g. `/usr/sbin/init` for `/sbin/init`. */
  realPath: string;
}

function components(path: string): string[] {
  return path.split('/');
}

/**
 * Resolves `path`. Every symlink on the way is followed; the last one only when
 * `followLast`. Returns undefined when a directory on the way is missing or is not a
 * directory (the path cannot exist).
 */
export function resolvePath(root: DirInode, path: string, followLast = true): ResolvedPath | undefined {
  const at = resolve(root, components(path), { followLast, notADirectory: 'missing', fail: bootProblem(path) });
  return at && { parent: at.parent, name: at.name, inode: at.inode, realPath: `/${at.realNames.join('/')}` };
}

/** What `path` resolves to (following every symlink), or undefined. */
export function lookup(root: DirInode, path: string): Inode | undefined {
  return resolvePath(root, path)?.inode;
}

/** True when `path` resolves to a regular file (through symlinks). */
export function isFile(root: DirInode, path: string): boolean {
  return lookup(root, path)?.kind === 'file';
}

/** The first of `paths` that resolves to a regular file, as given (not resolved). */
export function firstFile(root: DirInode, paths: readonly string[]): string | undefined {
  return paths.find((p) => isFile(root, p));
}

/** Errors of the boot setup's lookups, naming the path it asked for. */
function bootProblem(path: string): ResolveOptions['fail'] {
  return (problem: ResolveProblem) => {
    const subject = printable(path);
    switch (problem.kind) {
      case 'loop':
        return new InfraError('ROOTFS', `Too many levels of symbolic links resolving ${subject} in the image; fix the symlinks in the image.`);
      case 'budget':
        return new InfraError(
          'ROOTFS',
          `Resolving ${subject} in the image walks more than ${MAX_LOOKUP_COMPONENTS} path components through symlinks; fix the symlinks in the image.`,
        );
      case 'not-a-directory':
        return notADirectory(`${subject} (at "${printable(problem.name)}", a ${problem.inode.kind})`);
    }
  };
}

function notADirectory(subject: string): InfraError {
  return new InfraError('ROOTFS', `${subject} in the image is not a directory, but the boot setup needs one there.`);
}

/**
 * Edits one tree: creates directories, writes files and symlinks, releasing the contents
 * it replaces. Counts the tree's hard links once, when made; edit the tree through it
 * from then on (or make a new one after editing it otherwise).
 */
export class TreeEditor {
  private readonly refs: ContentRefs;

  constructor(
    readonly root: DirInode,
    readonly sink: DataSink,
    /** Stamped on everything created. */
    readonly time: Timestamp,
  ) {
    this.refs = ContentRefs.ofTree(root);
  }

  /**
   * Makes `path` a directory, creating missing parents (0755 root), following symlinks
   * on the way. An existing directory is kept as it is, except that `mode` is applied
   * when `forceMode` (e.g. /tmp must be 1777 whatever the image said).
   */
  ensureDir(path: string, mode: number, forceMode = false): DirInode {
    const at = resolve(this.root, components(path), {
      followLast: true,
      createMissing: (parent, name) => this.makeDirIn(parent, name, 0o755),
      notADirectory: 'fail',
      fail: bootProblem(path),
    })!;
    if (at.inode === undefined) return this.makeDirIn(at.parent, at.name, mode);
    if (at.inode.kind !== 'dir') throw notADirectory(printable(path));
    if (forceMode) at.inode.mode = mode;
    return at.inode;
  }

  /** Writes a regular file at `path` (replacing a file or symlink there), root-owned. */
  async putFile(path: string, data: Buffer | string, mode: number): Promise<FileInode> {
    const { parent, name } = this.placeFor(path);
    this.clearSlot(parent, name, path);
    const content = await this.sink.writeBuffer(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    const file: FileInode = { kind: 'file', ...toolMeta(mode, this.time), content };
    parent.children.set(name, file);
    return file;
  }

  /** Makes `path` a symlink to `target` (replacing a file or symlink there). */
  putSymlink(path: string, target: string): SymlinkInode {
    const { parent, name } = this.placeFor(path);
    this.clearSlot(parent, name, path);
    const link: SymlinkInode = { kind: 'symlink', ...toolMeta(0o777, this.time), target };
    parent.children.set(name, link);
    return link;
  }

  private makeDirIn(parent: DirInode, name: string, mode: number): DirInode {
    const dir = makeDir(toolMeta(mode, this.time));
    parent.children.set(name, dir);
    return dir;
  }

  /** Where a new entry for `path` goes: its parent directory (created if missing) and name. */
  private placeFor(path: string): { parent: DirInode; name: string } {
    const parts = components(path).filter((c) => c !== '' && c !== '.');
    const name = parts.pop();
    if (name === undefined || name === '..') throw new InfraError('ROOTFS', `Cannot create ${printable(path)}: not a file path.`);
    return { parent: this.ensureDir(`/${parts.join('/')}`, 0o755), name };
  }

  /** Removes what is at `parent/name` so something else can go there; directories are refused. */
  private clearSlot(parent: DirInode, name: string, path: string): void {
    const old = parent.children.get(name);
    if (old === undefined) return;
    if (old.kind === 'dir') {
      throw new InfraError('ROOTFS', `${printable(path)} in the image is a directory; cannot replace it with a file.`);
    }
    parent.children.delete(name);
    this.refs.dropSubtree(old, this.sink); // a hard-linked file keeps its content under its other names
  }
}

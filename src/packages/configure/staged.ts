/**
 * The tree as maintainer-script effects see it while they are followed: what the handlers
 * create (directories, files, symlinks, modes) is staged in order and read back at once,
 * over the unpacked tree; `apply` then makes it real through the tree editor. Script
 * following is synchronous, writing file data is not, hence the staging.
 */
import { posix } from 'node:path';
import type { ReadTreeFile } from '../retained.js';
import { resolvePath, type TreeEditor } from '../../tree/edit.js';
import { compareBytes, type DirInode } from '../../tree/tree.js';

type Staged = { kind: 'dir'; mode: number } | { kind: 'file'; data: Buffer; mode: number } | { kind: 'symlink'; target: string };
type Step = { path: string; entry: Staged } | { path: string; chmod: number };

/** Links followed when a staged path is looked up. */
const MAX_LINKS = 40;

export class StagedTree {
  private readonly entries = new Map<string, Staged>();
  private readonly steps: Step[] = [];

  constructor(
    readonly root: DirInode,
    private readonly readUnpacked: ReadTreeFile,
  ) {}

  /** What is at `path` (through symlinks unless `followLast` is false). */
  kind(path: string, followLast = true): 'file' | 'dir' | 'symlink' | 'other' | undefined {
    const staged = this.stagedAt(path, followLast);
    if (staged !== undefined) return staged.kind;
    const inode = resolvePath(this.root, this.resolveStaged(path, followLast), followLast)?.inode;
    if (inode === undefined) return undefined;
    return inode.kind === 'file' || inode.kind === 'dir' || inode.kind === 'symlink' ? inode.kind : 'other';
  }

  mode(path: string): number | undefined {
    const staged = this.stagedAt(path, true);
    if (staged !== undefined) return staged.kind === 'symlink' ? 0o777 : staged.mode;
    return resolvePath(this.root, this.resolveStaged(path, true))?.inode?.mode;
  }

  /** A file's bytes: staged, or one of the unpacked files kept for the handlers. */
  read(path: string): Buffer | undefined {
    const staged = this.stagedAt(path, true);
    if (staged !== undefined) return staged.kind === 'file' ? staged.data : undefined;
    return this.readUnpacked(this.resolveStaged(path, true));
  }

  /** Symlink target, if `path` is a symlink. */
  readLink(path: string): string | undefined {
    const staged = this.entries.get(normal(path));
    if (staged !== undefined) return staged.kind === 'symlink' ? staged.target : undefined;
    const inode = resolvePath(this.root, path, false)?.inode;
    return inode?.kind === 'symlink' ? inode.target : undefined;
  }

  /** Names in a directory, the unpacked tree's and the staged ones, in byte order. */
  list(dir: string): string[] {
    const key = this.resolveStaged(dir, true);
    const inode = resolvePath(this.root, key)?.inode;
    const names = new Set(inode?.kind === 'dir' ? inode.children.keys() : []);
    for (const path of this.entries.keys()) if (posix.dirname(path) === key && path !== '/') names.add(posix.basename(path));
    return [...names].sort(compareBytes);
  }

  mkdir(path: string, mode: number): void {
    this.stage(path, { kind: 'dir', mode });
  }

  writeFile(path: string, data: Buffer, mode: number): void {
    this.stage(path, { kind: 'file', data, mode });
  }

  symlink(path: string, target: string): void {
    this.stage(path, { kind: 'symlink', target });
  }

  chmod(path: string, mode: number): void {
    const staged = this.entries.get(normal(path));
    if (staged !== undefined && staged.kind !== 'symlink') staged.mode = mode;
    else this.steps.push({ path: normal(path), chmod: mode });
  }

  /** Makes the staged changes in the tree, in the order they were made. */
  async apply(editor: TreeEditor): Promise<void> {
    for (const step of this.steps) {
      if ('chmod' in step) {
        const inode = resolvePath(editor.root, step.path)?.inode;
        if (inode !== undefined) inode.mode = step.chmod;
        continue;
      }
      const { path, entry } = step;
      if (entry.kind === 'dir') editor.ensureDir(path, entry.mode);
      else if (entry.kind === 'symlink') editor.putSymlink(path, entry.target);
      else await editor.putFile(path, entry.data, entry.mode);
    }
  }

  private stage(path: string, entry: Staged): void {
    const key = normal(path);
    this.entries.set(key, entry);
    this.steps.push({ path: key, entry });
  }

  /** The staged entry at `path`, following staged symlinks. */
  private stagedAt(path: string, followLast: boolean): Staged | undefined {
    const key = this.resolveStaged(path, followLast);
    return this.entries.get(key);
  }

  /** `path` with staged symlinks in its last component followed. */
  private resolveStaged(path: string, followLast: boolean): string {
    let key = normal(path);
    for (let i = 0; followLast && i < MAX_LINKS; i++) {
      const entry = this.entries.get(key);
      if (entry?.kind !== 'symlink') break;
      key = normal(posix.resolve(posix.dirname(key), entry.target));
    }
    return key;
  }
}

function normal(path: string): string {
  return posix.resolve('/', path);
}

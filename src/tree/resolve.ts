/**
 * The one path resolver of the in-memory tree: names are walked the way the guest kernel
 * will walk them inside a chroot. A symlink is followed INSIDE the root: an absolute target
 * starts again at the tree's root, and `..` goes to the parent directory but never above
 * the root. So `lib -> usr/lib` then `lib/x.so` is `usr/lib/x.so`, and `/sbin/init` lands
 * in `usr/sbin` on usrmerge images.
 *
 * Callers word the errors (a layer member and a boot file fail differently): the resolver
 * reports what went wrong as a `ResolveProblem` and throws what `fail` makes of it.
 */
import type { InfraError } from '../errors.js';
import type { DirInode, Inode } from './tree.js';

/** Linux's MAXSYMLINKS: more symlinks than this in one lookup is treated as a loop. */
export const MAX_SYMLINK_FOLLOWS = 40;

/**
 * Components one lookup may walk, symlink targets included: twice the 2048 of the
 * deepest name PATH_MAX allows. The kernel has no such bound, but 40 symlinks that each
 * point into a deep directory chain make every lookup walk ~80,000 components; a layer
 * of such members would take minutes to apply, so it is refused instead.
 */
export const MAX_LOOKUP_COMPONENTS = 4096;

export type ResolveProblem =
  /** More than MAX_SYMLINK_FOLLOWS symlinks; `name` is the one that was one too many. */
  | { kind: 'loop'; name: string }
  /** More than MAX_LOOKUP_COMPONENTS components; `name` is where it stopped. */
  | { kind: 'budget'; name: string }
  /** `name` is on the way but is a file, device, fifo or socket (`inode`). */
  | { kind: 'not-a-directory'; name: string; inode: Inode };

export interface ResolveOptions {
  /** Follow a symlink in the last component too (stat), or return the symlink (lstat). */
  followLast: boolean;
  /**
   * Makes the directory `name` that is missing in `parent` on the way (the last component
   * is never created) and puts it there. Without it a missing directory makes the lookup
   * return undefined.
   */
  createMissing?: (parent: DirInode, name: string) => DirInode;
  /**
   * What a component on the way that is not a directory does: `missing` makes the lookup
   * return undefined (the path cannot exist), `fail` throws.
   */
  notADirectory: 'missing' | 'fail';
  /** Called for each directory the lookup passes through, the root included. */
  entered?: (dir: DirInode) => void;
  /** Turns a problem into the error to throw, worded for the caller's user. */
  fail: (problem: ResolveProblem) => InfraError;
}

export interface Resolved {
  /** The directory that holds (or would hold) the last component. */
  parent: DirInode;
  /** The last component's name in `parent` (`''` when the path is the root). */
  name: string;
  /** What is there, or undefined when nothing is. */
  inode: Inode | undefined;
  /** The components of the path after following symlinks (`usr/sbin/init` for `/sbin/init`). */
  realNames: readonly string[];
}

/**
 * Resolves `components` (`''`, `.` and `..` allowed) from `root`. Returns undefined when
 * a directory on the way is missing (without `createMissing`) or is not a directory (with
 * `notADirectory: 'missing'`).
 */
export function resolve(root: DirInode, components: readonly string[], options: ResolveOptions): Resolved | undefined {
  // Symlink targets still to walk, next one last; they come before components[next].
  const pending: string[] = [];
  let next = 0;
  const dirs: DirInode[] = [root];
  const names: string[] = [];
  let follows = 0;
  let walked = 0;
  options.entered?.(root);
  while (pending.length > 0 || next < components.length) {
    const name = pending.length > 0 ? pending.pop()! : components[next++]!;
    if (++walked > MAX_LOOKUP_COMPONENTS) throw options.fail({ kind: 'budget', name });
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (dirs.length > 1) {
        dirs.pop();
        names.pop();
      }
      continue;
    }
    const here = dirs[dirs.length - 1]!;
    let child = here.children.get(name);
    const last = pending.length === 0 && next === components.length;
    if (child?.kind === 'symlink' && (!last || options.followLast)) {
      if (++follows > MAX_SYMLINK_FOLLOWS) throw options.fail({ kind: 'loop', name });
      if (child.target.startsWith('/')) {
        dirs.length = 1;
        names.length = 0;
      }
      const target = child.target.split('/');
      for (let i = target.length - 1; i >= 0; i--) pending.push(target[i]!);
      continue;
    }
    if (last) return { parent: here, name, inode: child, realNames: [...names, name] };
    if (child === undefined) {
      if (!options.createMissing) return undefined;
      child = options.createMissing(here, name);
    } else if (child.kind !== 'dir') {
      if (options.notADirectory === 'missing') return undefined;
      throw options.fail({ kind: 'not-a-directory', name, inode: child });
    }
    options.entered?.(child);
    dirs.push(child);
    names.push(name);
  }
  // The path named a directory itself (the root, `..`, or a symlink to a directory).
  const dir = dirs[dirs.length - 1]!;
  return { parent: dirs[dirs.length - 2] ?? dir, name: names[names.length - 1] ?? '', inode: dir, realNames: names };
}

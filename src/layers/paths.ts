/**
 * Names inside the image: normalising tar member names (layers.md rule 4) and resolving
 * parent paths through symlinks inside the image root (rule 5).
 *
 * All names are byte strings (see tree.ts).
 */
import { InfraError, printable } from '../errors.js';
import type { DirInode } from '../tree/tree.js';

/** Names the member in an error message; called only when there is an error to report. */
export type Describe = () => string;

/** Linux's MAXSYMLINKS: more follows than this in one resolution is treated as a loop. */
export const MAX_SYMLINK_FOLLOWS = 40;
/** ext4's EXT4_NAME_LEN: the longest directory entry name it can store. */
export const MAX_NAME_BYTES = 255;
/**
 * Linux's PATH_MAX. Longer member names cannot be opened by path in the guest, and they
 * bound how deep a hostile layer can make the tree (which is walked recursively later).
 */
export const MAX_PATH_BYTES = 4096;

/**
 * Splits a member name (or a hard link target) into its components, lexically:
 * leading `/` and `./` are stripped, `//` and `.` collapse, `a/../b` is `b`.
 * Returns `[]` for the root itself (`.`, `./`, `/`).
 *
 * A `..` that climbs above the root is rejected, not clamped: no tool writes such names,
 * and silently relocating the member would change the image (docs/layers.md).
 */
export function splitMemberName(name: string, what: Describe): string[] {
  if (name === '') throw new InfraError('LAYER', `${what()} has an empty name; the layer is malformed: rebuild it`);
  if (name.length > MAX_PATH_BYTES) {
    throw new InfraError('LAYER', `${what()} is longer than ${MAX_PATH_BYTES} bytes (Linux's PATH_MAX); rebuild the layer with shorter paths`);
  }
  // Compacted in place: `kept` components of `parts` survive.
  const parts = name.split('/');
  let kept = 0;
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (kept === 0) {
        throw new InfraError(
          'LAYER',
          `${what()} climbs out of the image root with ".."; the layer is hostile or broken: rebuild it without such names`,
        );
      }
      kept--;
      continue;
    }
    if (part.length > MAX_NAME_BYTES) {
      throw new InfraError('LAYER', `${what()} has a component longer than ${MAX_NAME_BYTES} bytes, which ext4 cannot store; rebuild the layer with shorter names`);
    }
    parts[kept++] = part;
  }
  parts.length = kept;
  return parts;
}

/** What resolution does along the way; lets the caller track and create directories. */
export interface ResolveHooks {
  /** Called for each directory the path passes through, the root included. */
  entered(dir: DirInode): void;
  /**
   * Creates a missing directory `name` in `parent`. When absent, resolution of a path
   * with a missing or non-directory component returns `undefined` instead.
   */
  createMissing?(parent: DirInode, name: string): DirInode;
}

/**
 * The directory that `components` lead to from `root`, following every symlink on the
 * way inside the image: an absolute target restarts at the root and `..` stops at the
 * root, as the kernel does inside a chroot. The caller passes parent components only,
 * so the final component of a member name is never followed.
 */
export function resolveDirectory(
  root: DirInode,
  components: readonly string[],
  hooks: ResolveHooks,
  what: Describe,
): DirInode | undefined {
  // Symlink targets still to walk, next one last; they come before components[next].
  const pending: string[] = [];
  let next = 0;
  const stack: DirInode[] = [root];
  let follows = 0;
  hooks.entered(root);
  while (pending.length > 0 || next < components.length) {
    const name = pending.length > 0 ? pending.pop()! : components[next++];
    const current = stack[stack.length - 1];
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const child = current.children.get(name);
    if (child === undefined) {
      if (!hooks.createMissing) return undefined;
      const made = hooks.createMissing(current, name);
      hooks.entered(made);
      stack.push(made);
    } else if (child.kind === 'dir') {
      hooks.entered(child);
      stack.push(child);
    } else if (child.kind === 'symlink') {
      if (++follows > MAX_SYMLINK_FOLLOWS) {
        throw new InfraError(
          'LAYER',
          `${what()}: more than ${MAX_SYMLINK_FOLLOWS} symlinks to follow in its parent path (a symlink loop near "${printable(name)}"); fix the symlinks in the image`,
        );
      }
      if (child.target.startsWith('/')) stack.length = 1;
      const target = child.target.split('/');
      for (let i = target.length - 1; i >= 0; i--) pending.push(target[i]);
    } else {
      if (!hooks.createMissing) return undefined;
      throw new InfraError(
        'LAYER',
        `${what()}: its parent path goes through "${printable(name)}", which is a ${child.kind}, not a directory; the layer is malformed: rebuild it`,
      );
    }
  }
  return stack[stack.length - 1];
}

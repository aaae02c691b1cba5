/**
 * Names inside the image: normalising tar member names (layers.md rule 4) and the errors
 * of resolving them through symlinks inside the image root (rule 5).
 *
 * All names are byte strings (see tree.ts).
 */
import { InfraError, printable } from '../errors.js';
import { MAX_LOOKUP_COMPONENTS, MAX_SYMLINK_FOLLOWS, type ResolveProblem } from '../tree/resolve.js';

/** Names the member in an error message; called only when there is an error to report. */
export type Describe = () => string;

/** ext4's EXT4_NAME_LEN: the longest directory entry name it can store. */
export const MAX_NAME_BYTES = 255;
/**
 * Linux's PATH_MAX. Longer member names cannot be opened by path in the guest. (Symlinked
 * parents still make deeper trees: every walk over the tree is iterative.)
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

/**
 * The errors of resolving a member's path (rule 5), naming the member. The resolver is
 * the tree's (src/tree/resolve.ts); what its problems mean for a layer is said here.
 */
export function memberProblem(what: Describe): (problem: ResolveProblem) => InfraError {
  return (problem) => {
    const near = printable(problem.name);
    switch (problem.kind) {
      case 'loop':
        return new InfraError(
          'LAYER',
          `${what()}: more than ${MAX_SYMLINK_FOLLOWS} symlinks to follow in its parent path (a symlink loop near "${near}"); fix the symlinks in the image`,
        );
      case 'budget':
        return new InfraError(
          'LAYER',
          `${what()}: its parent path walks more than ${MAX_LOOKUP_COMPONENTS} components through symlinks (near "${near}": symlinks into deep directory chains); the layer is hostile or broken: rebuild it with shorter symlinked paths`,
        );
      case 'not-a-directory':
        return new InfraError(
          'LAYER',
          `${what()}: its parent path goes through "${near}", which is a ${problem.inode.kind}, not a directory; the layer is malformed: rebuild it`,
        );
    }
  };
}

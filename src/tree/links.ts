/**
 * Hard links and file contents: the one place that counts the names of an inode and
 * decides when a name leaving the tree releases a file's content. A hard-linked inode is
 * one object under several names, so a file's content is released (`DataSink.release`,
 * exactly once: the sink may reuse the blocks at once) only when its last name goes.
 */
import type { DataSink, DirInode, Inode } from './tree.js';

/** What a hard link can name: anything but a directory. */
export type LinkableInode = Exclude<Inode, DirInode>;

/**
 * How many names each non-directory inode has in one tree. Only inodes with more than one
 * name are stored: almost every inode has exactly one. Callers keep it in step with the
 * tree: `link` for every extra name they add, `dropSubtree` for every entry they take out.
 */
export class ContentRefs {
  /** Names beyond the first, for hard-linked inodes only. */
  private readonly extraNames = new Map<LinkableInode, number>();

  /** Counts the names of the inodes already in `root` (earlier layers, or a hand-made tree). */
  static ofTree(root: DirInode): ContentRefs {
    const refs = new ContentRefs();
    const seen = new Set<LinkableInode>();
    const pending: DirInode[] = [root];
    while (pending.length > 0) {
      for (const child of pending.pop()!.children.values()) {
        if (child.kind === 'dir') pending.push(child);
        else if (seen.has(child)) refs.link(child);
        else seen.add(child);
      }
    }
    return refs;
  }

  /** `inode`, already in the tree, is about to get another name. */
  link(inode: LinkableInode): void {
    this.extraNames.set(inode, (this.extraNames.get(inode) ?? 0) + 1);
  }

  /** How many names `inode`, which is in the tree, has (its link count). */
  names(inode: LinkableInode): number {
    return (this.extraNames.get(inode) ?? 0) + 1;
  }

  /**
   * The entry `inode` has left the tree: drops one name of every inode in its subtree
   * (iteratively: subtrees may be deeper than the stack) and releases the file contents
   * that have none left.
   */
  dropSubtree(inode: Inode, sink: DataSink): void {
    const pending: Inode[] = [inode];
    while (pending.length > 0) {
      const next = pending.pop()!;
      if (next.kind === 'dir') for (const child of next.children.values()) pending.push(child);
      else this.drop(next, sink);
    }
  }

  private drop(inode: LinkableInode, sink: DataSink): void {
    const extra = this.extraNames.get(inode);
    if (extra === undefined) {
      if (inode.kind === 'file') sink.release(inode.content);
    } else if (extra > 1) this.extraNames.set(inode, extra - 1);
    else this.extraNames.delete(inode);
  }
}

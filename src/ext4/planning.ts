/**
 * Planning, once the tree is final: inode numbers, link counts and directory records
 * (`numberTree`), then the blocks each inode needs beyond its file data (`measure`).
 */
import { InfraError, printable } from '../errors.js';
import { NO_XATTRS, type DirInode, type Inode, type Timestamp } from '../tree/tree.js';
import type { BlockAllocator } from './allocator.js';
import { type DirRecord, recordLength } from './dir.js';
import { treeBlocksFor } from './extents.js';
import { BLOCK_SIZE, EXT4_LINK_MAX, FILE_TYPES, FT, INO, I_BLOCK_SIZE, MAX_NAME_LEN } from './format.js';
import { planHtree } from './htree.js';
import { contentOf, type InodePlan, type Needs, type NumberedInode, type NumberedTree } from './types.js';
import { layoutXattrs } from './xattr.js';

const LOST_FOUND = 'lost+found';
/** mke2fs makes lost+found 16 KiB so e2fsck can reconnect files without allocating. */
const LOST_FOUND_BLOCKS = 4;

/** Numbers the inodes depth-first in name order (root 2, lost+found 11), counting links. */
export function numberTree(root: DirInode, time: Timestamp): NumberedTree {
  ensureLostFound(root, time);
  const numbers = new Map<Inode, NumberedInode>();
  const rootEntry: NumberedInode = { ino: INO.ROOT, inode: root, links: 0 };
  numbers.set(root, rootEntry);
  const others: NumberedInode[] = [];
  const number = (inode: Inode): NumberedInode => {
    let entry = numbers.get(inode);
    if (!entry) {
      entry = { ino: INO.FIRST + others.length, inode, links: 0 };
      numbers.set(inode, entry);
      others.push(entry);
    }
    return entry;
  };
  const named = new Set<Inode>();
  const assign = (inode: Inode): NumberedInode => {
    if (inode.kind === 'dir' && named.has(inode)) {
      throw new InfraError('LAYER', 'The same directory appears under two names (a hard link to a directory); ext4 cannot store that.');
    }
    named.add(inode);
    return number(inode);
  };
  number(root.children.get(LOST_FOUND)!); // inode 11, as mke2fs makes it
  // Depth-first in name order: deterministic numbers, and a directory's inodes stay close.
  const stack: Array<[DirInode, NumberedInode, NumberedInode, string]> = [[root, rootEntry, rootEntry, '']];
  while (stack.length > 0) {
    const [dir, self, parent, path] = stack.pop()!;
    const names = [...dir.children.keys()].sort();
    const records: DirRecord[] = [dot('.', self.ino), dot('..', parent.ino)];
    let subdirs = 0;
    const childDirs: Array<[DirInode, NumberedInode, string]> = [];
    for (const name of names) {
      const child = dir.children.get(name)!;
      const nameBytes = Buffer.from(name, 'latin1');
      if (nameBytes.length === 0 || nameBytes.length > MAX_NAME_LEN || nameBytes.includes(0x2f) || nameBytes.includes(0)) {
        throw new InfraError('LAYER', `The name '${printable(name)}' cannot be stored in ext4 (1 to 255 bytes, no '/' or NUL).`);
      }
      const entry = assign(child);
      if (++entry.links > EXT4_LINK_MAX) throw tooManyLinks(`${path}/${name}`);
      records.push({ name: nameBytes, inode: entry.ino, fileType: FILE_TYPES[child.kind].dirent });
      if (child.kind === 'dir') {
        subdirs++;
        childDirs.push([child, entry, name]);
      }
    }
    self.records = records;
    // ., its name in the parent, and each subdirectory's ..; past the limit, dir_nlink's 1
    // ("unknown"), as ext4_inc_count() sets it and e2fsck pass 4 accepts.
    self.links = 2 + subdirs > EXT4_LINK_MAX ? 1 : 2 + subdirs;
    if (dir === root.children.get(LOST_FOUND)) self.minBlocks = LOST_FOUND_BLOCKS;
    for (let i = childDirs.length - 1; i >= 0; i--) {
      const [childDir, childEntry, childName] = childDirs[i]!;
      stack.push([childDir, childEntry, self, `${path}/${childName}`]);
    }
  }
  return { root: rootEntry, others, time };
}

/**
 * A file, symlink or device under more names than i_links_count may count. The layer
 * applier refuses such hard links first; this guards trees made any other way.
 */
function tooManyLinks(path: string): InfraError {
  return new InfraError(
    'LAYER',
    `'${printable(path)}' has more than ${EXT4_LINK_MAX} hard links, ext4's limit (EXT4_LINK_MAX); keep at most ${EXT4_LINK_MAX} names for one file.`,
  );
}

function dot(name: string, ino: number): DirRecord {
  return { name: Buffer.from(name), inode: ino, fileType: FT.DIR };
}

function ensureLostFound(root: DirInode, time: Timestamp): void {
  const existing = root.children.get(LOST_FOUND);
  if (existing?.kind === 'dir') return;
  root.children.set(LOST_FOUND, {
    kind: 'dir',
    mode: 0o700,
    uid: 0,
    gid: 0,
    atime: time,
    mtime: time,
    ctime: time,
    xattrs: NO_XATTRS,
    children: new Map(),
  });
}

function directoryBlocks(records: DirRecord[], minBlocks = 1): number {
  let blocks = 1;
  let used = 0;
  for (const r of records) {
    const len = recordLength(r.name.length);
    if (used + len > BLOCK_SIZE) {
      blocks++;
      used = 0;
    }
    used += len;
  }
  return Math.max(blocks, minBlocks);
}

/** The blocks each inode needs beyond its file data, and the totals the size follows from. */
export function measure(tree: NumberedTree, allocator: BlockAllocator, seed: Uint32Array): Needs {
  const plans = new Map<number, InodePlan>();
  let metaBlocks = 0;
  let dataBlocks = allocator.overflow;
  for (const n of [tree.root, ...tree.others]) {
    const inode = n.inode;
    const linear = n.records ? directoryBlocks(n.records, n.minBlocks) : 0;
    const htree = linear > 1 && n.minBlocks === undefined ? planHtree(n.records!.slice(2), seed) : undefined;
    const plan: InodePlan = {
      dirBlocks: htree ? htree.blockCount : linear,
      ...(htree ? { htree } : {}),
      symlinkBlock: inode.kind === 'symlink' && Buffer.byteLength(inode.target, 'latin1') >= I_BLOCK_SIZE,
      xattrs: layoutXattrs(inode.xattrs, `inode ${n.ino}`),
      treeBlocks: inode.kind === 'file' ? treeBlocksFor(contentOf(inode).extents.count) : 0,
    };
    if (inode.kind === 'symlink' && Buffer.byteLength(inode.target, 'latin1') >= BLOCK_SIZE) {
      throw new InfraError('LAYER', `A symlink target is ${Buffer.byteLength(inode.target, 'latin1')} bytes; ext4 allows at most ${BLOCK_SIZE - 1}.`);
    }
    if (inode.kind === 'file') dataBlocks += contentOf(inode).extents.blocks;
    // Directories of more than 4 extents are rare (blocks are placed together); count a leaf.
    metaBlocks += plan.dirBlocks + (plan.dirBlocks > 0 ? treeBlocksFor(Math.ceil(plan.dirBlocks / 1024)) : 0);
    metaBlocks += (plan.symlinkBlock ? 1 : 0) + (plan.xattrs.inBlock.length > 0 ? 1 : 0) + plan.treeBlocks;
    plans.set(n.ino, plan);
  }
  return { plans, dataBlocks, metaBlocks, inodesUsed: INO.FIRST - 1 + tree.others.length };
}


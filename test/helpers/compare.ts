/**
 * Entry-by-entry comparison of two directory trees on disk (e.g. a tarball extracted by
 * GNU tar and an image dumped by debugfs rdump): type, mode, owner, size, mtime, content
 * hash, link target, and hard-link grouping.
 */
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';

export interface EntryFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  content?: string;
  target?: string;
  rdev?: number;
  /** Index of the first path with the same inode (hard links), or the entry's own path. */
  linkGroup: string;
}

function kind(s: Stats): string {
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'dir';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isCharacterDevice()) return 'char';
  if (s.isBlockDevice()) return 'block';
  if (s.isFIFO()) return 'fifo';
  return 'socket';
}

/** Facts per relative path (names as latin1 byte strings), skipping `skip` at the top. */
export function describeTree(root: string, skip: string[] = []): Map<string, EntryFacts> {
  const out = new Map<string, EntryFacts>();
  const firstByInode = new Map<number, string>();
  // Paths as bytes: names need not be UTF-8.
  const visit = (rel: string) => {
    const absPath = Buffer.concat([Buffer.from(rel === '' ? root : `${root}/`), Buffer.from(rel, 'latin1')]);
    const s = lstatSync(absPath);
    const type = kind(s);
    const facts: EntryFacts = {
      type,
      mode: s.mode & 0o7777,
      uid: s.uid,
      gid: s.gid,
      size: type === 'file' || type === 'symlink' ? s.size : 0,
      // GNU tar and debugfs rdump both leave symlink times at the extraction time
      mtime: type === 'symlink' ? 0 : Math.floor(s.mtimeMs / 1000),
      linkGroup: rel,
    };
    if (type === 'file') {
      facts.content = createHash('sha256').update(readFileSync(absPath)).digest('hex');
      const first = firstByInode.get(s.ino);
      if (first === undefined) firstByInode.set(s.ino, rel);
      else facts.linkGroup = first;
    }
    if (type === 'symlink') facts.target = readlinkSync(absPath, 'latin1');
    if (type === 'char' || type === 'block') facts.rdev = s.rdev;
    if (rel !== '') out.set(rel, facts);
    if (type === 'dir') {
      for (const name of readdirSync(absPath, { encoding: 'buffer' }).map((n) => n.toString('latin1')).sort()) {
        if (rel === '' && skip.includes(name)) continue;
        visit(rel === '' ? name : `${rel}/${name}`);
      }
    }
  };
  visit('');
  return out;
}

type Asserter = Pick<Test, 'ok' | 'same' | 'equal'>;

/** Asserts both trees hold the same paths with the same facts; returns the entry count. */
export function assertSameTree(t: Asserter, expected: Map<string, EntryFacts>, actual: Map<string, EntryFacts>, what: string): number {
  t.same([...actual.keys()].sort(), [...expected.keys()].sort(), `${what}: same paths`);
  const mismatches: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (got && JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${path}: want ${JSON.stringify(want)} got ${JSON.stringify(got)}`);
  }
  t.same(mismatches.slice(0, 20), [], `${what}: every entry has the same type, mode, owner, size, mtime, content, target and links`);
  return expected.size;
}

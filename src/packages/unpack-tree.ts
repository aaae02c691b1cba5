/**
 * Placing package archive members into the in-memory tree, the part dpkg
 * (src/main/archives.c `tarobject`) and apk-tools (src/database.c
 * `apk_db_install_archive_entry`) share, not a container layer's rules: a directory that
 * exists stays as it is, also when it is a symlink to a directory (merged /usr:
 * `/lib -> usr/lib` and packages ship `./lib/...`); owners, modes and times come from the
 * archive; a file replaces what was there. File bytes stream into the tree's `DataSink`
 * (the ext4 writer). Who may own a path is the package manager's (its `claim`).
 */
import { createHash } from 'node:crypto';
import { InfraError, printable } from '../errors.js';
import type { TarEntry, TarMember } from '../tar/entry.js';
import { ContentRefs } from '../tree/links.js';
import { resolve, type ResolveProblem } from '../tree/resolve.js';
import { NO_XATTRS, type DataSink, type DirInode, type FileContent, type Inode, type InodeMeta } from '../tree/tree.js';

/** The package a member belongs to, as the package manager sees it. */
export interface MemberOwner {
  /** The package, for messages. */
  what: string;
  /** The package manager's name, for messages (`dpkg`, `apk`). */
  tool: string;
  /** The conflict check, before a non-directory `path` is placed; throws to refuse. */
  claim(path: string, memberWhat: string): void;
  /** A regular file's bytes on their way to the sink (to hash them); default as they are. */
  fileBody?(path: string, entry: TarEntry, body: AsyncIterable<Buffer>, memberWhat: string): AsyncIterable<Buffer>;
}

/** What a placed member was: its absolute path (`/` for the root), and its content when a regular file. */
export interface PlacedMember {
  path: string;
  content?: FileContent;
}

export class TreeUnpacker {
  private readonly refs: ContentRefs;

  constructor(
    private readonly root: DirInode,
    private readonly sink: DataSink,
  ) {
    this.refs = ContentRefs.ofTree(root);
  }

  /** Places one archive member; the root entry leaves the tree as it is. */
  async place(member: TarMember, owner: MemberOwner): Promise<PlacedMember> {
    const { entry } = member;
    const parts = memberComponents(entry.path, owner.what);
    if (parts.length === 0) return { path: '/' };
    const path = `/${parts.join('/')}`;
    const memberWhat = `${printable(path)} of ${owner.what}`;
    const at = resolve(this.root, parts, { followLast: false, notADirectory: 'fail', fail: pathProblem(memberWhat) });
    if (at === undefined) {
      throw new InfraError('PACKAGE', `${memberWhat} comes before its directory in the archive; the package is malformed: rebuild it`);
    }
    const { parent, name, inode: existing } = at;
    if (entry.type === 'dir') {
      if (existing === undefined) parent.children.set(name, { kind: 'dir', ...meta(entry), children: new Map() });
      else if (!this.isDirectory(parts)) throw overwriting(memberWhat, 'a directory', existing, owner.tool);
      return { path }; // an existing directory, or symlink to one, is kept as it is
    }
    if (existing?.kind === 'dir') throw overwriting(memberWhat, `a ${entry.type}`, existing, owner.tool);
    owner.claim(path, memberWhat);
    if (entry.type === 'file') {
      this.remove(parent, name); // first: the sink may reuse its blocks for the new bytes
      const body = owner.fileBody?.(path, entry, member.body, memberWhat) ?? member.body;
      const content = await this.sink.writeFile(body, entry.size, entry.sparse);
      parent.children.set(name, { kind: 'file', ...meta(entry), content });
      return { path, content };
    }
    this.put(parent, name, this.nonFile(entry, memberWhat, owner.what));
    return { path };
  }

  private nonFile(entry: TarEntry, memberWhat: string, what: string): Inode {
    switch (entry.type) {
      case 'symlink':
        return { kind: 'symlink', ...meta(entry), target: entry.linkname };
      case 'hardlink': {
        const target = this.hardLinkTarget(entry.linkname, memberWhat, what);
        if (target.kind === 'file') this.refs.link(target);
        return target;
      }
      case 'char':
      case 'block':
        return { kind: entry.type, ...meta(entry), major: entry.devMajor, minor: entry.devMinor };
      default:
        return { kind: 'fifo', ...meta(entry) };
    }
  }

  private hardLinkTarget(linkname: string, memberWhat: string, what: string): Inode {
    const parts = memberComponents(linkname, what);
    const target = resolve(this.root, parts, { followLast: false, notADirectory: 'missing', fail: pathProblem(memberWhat) })?.inode;
    if (target === undefined || target.kind === 'dir') {
      throw new InfraError('PACKAGE', `${memberWhat} is a hard link to "${printable(linkname)}", which the package has not unpacked before it; rebuild the package`);
    }
    return target;
  }

  /** Whether `parts` is a directory, following a symlink in the last component too. */
  private isDirectory(parts: readonly string[]): boolean {
    const at = resolve(this.root, parts, { followLast: true, notADirectory: 'missing', fail: pathProblem(printable(parts.join('/'))) });
    return at?.inode?.kind === 'dir';
  }

  private put(parent: DirInode, name: string, inode: Inode): void {
    const old = parent.children.get(name);
    parent.children.set(name, inode);
    if (old !== undefined && old !== inode) this.refs.dropSubtree(old, this.sink);
  }

  private remove(parent: DirInode, name: string): void {
    const old = parent.children.get(name);
    if (old === undefined) return;
    parent.children.delete(name);
    this.refs.dropSubtree(old, this.sink);
  }
}

/**
 * A member name's components (`./usr/bin/x` → usr, bin, x); `[]` for the root. A `..`
 * is refused: package builders never write one, and a hostile one would climb out of the tree.
 */
export function memberComponents(name: string, what: string): string[] {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new InfraError('PACKAGE', `${what} has a member "${printable(name)}" with "..": the package is hostile or broken; do not install it`);
  }
  return parts;
}

/** Passes `body` on, reporting its digest at the end. */
export async function* hashedBody(body: AsyncIterable<Buffer>, algorithm: string, done: (digest: Buffer) => void): AsyncGenerator<Buffer> {
  const hash = createHash(algorithm);
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
  done(hash.digest());
}

/** Archive metadata: numeric owners, mode bits, the member's mtime for every time. */
function meta(entry: TarEntry): InodeMeta {
  return { mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, atime: entry.mtime, mtime: entry.mtime, ctime: entry.mtime, xattrs: NO_XATTRS };
}

function pathProblem(what: string): (problem: ResolveProblem) => InfraError {
  return (problem) => {
    const detail =
      problem.kind === 'not-a-directory'
        ? `its directory "${printable(problem.name)}" is a ${problem.inode.kind} in the image`
        : `resolving its directory near "${printable(problem.name)}" follows too many symlinks`;
    return new InfraError('PACKAGE', `${what}: ${detail}; the base image and the package disagree: fix the image or leave the package out`);
  };
}

function overwriting(what: string, kind: string, existing: Inode, tool: string): InfraError {
  return new InfraError('PACKAGE', `${what} is ${kind}, but the image has a ${existing.kind} there, which ${tool} would not overwrite; fix the base image or leave the package out`);
}

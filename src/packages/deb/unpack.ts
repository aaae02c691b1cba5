/**
 * Unpacking `.deb` files into the in-memory tree with dpkg's semantics (dpkg's
 * src/main/archives.c `tarobject`), not a container layer's: a directory that exists
 * stays as it is, also when it is a symlink to a directory (merged /usr: `/lib -> usr/lib`
 * and packages ship `./lib/...`); a file another package owns is a conflict unless this
 * package Replaces it; owners, modes and times come from the archive. File bytes stream
 * into the tree's `DataSink` (the ext4 writer). Maintainer scripts are not run.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { InfraError, printable } from '../../errors.js';
import { decompress } from '../../image/decompress.js';
import type { TarEntry, TarMember } from '../../tar/entry.js';
import { readTar } from '../../tar/reader.js';
import { ContentRefs } from '../../tree/links.js';
import { resolve, type ResolveProblem } from '../../tree/resolve.js';
import type { DataSink, DirInode, Inode, InodeMeta } from '../../tree/tree.js';
import { notADeb, readAr } from './ar.js';
import { parseStanzas, fieldValue, type DpkgDatabase, type Field, type UnpackedDeb } from './dpkg-db.js';
import type { ResolvedDeb } from './types.js';

/** deb(5): the format version in `debian-binary` is 2.x. */
const DEB_FORMAT_MAJOR = '2.';
/** Control archives hold a few small files; more than this is not a control archive. */
const MAX_CONTROL_BYTES = 16 * 1024 * 1024;
const MAX_CONTROL_MEMBERS = 64;

/** The one package being unpacked. */
interface Unpacking {
  name: string;
  /** Names this package Replaces: their files may be overwritten (and leave their lists). */
  replaces: Set<string>;
  /** Conffile paths (from the control archive's `conffiles`). */
  conffilePaths: Set<string>;
  paths: string[];
  conffiles: Map<string, string>;
  what: string;
}

/** Unpacks packages into one tree, keeping its dpkg database in step. */
export class DebInstaller {
  private readonly refs: ContentRefs;

  constructor(
    private readonly root: DirInode,
    private readonly sink: DataSink,
    readonly db: DpkgDatabase,
    /** Sees each data member on its way in (RetainedFiles keeps the ones configuration reads). */
    private readonly members: (members: AsyncIterable<TarMember>) => AsyncIterable<TarMember> = (members) => members,
  ) {
    this.refs = ContentRefs.ofTree(root);
  }

  /** Unpacks one verified .deb (as `dpkg --unpack` does) and records it in the database. */
  async install(deb: ResolvedDeb): Promise<UnpackedDeb> {
    const what = `the package ${deb.stanza.package} ${deb.stanza.version} (${basename(deb.file)})`;
    let control: Map<string, Buffer> | undefined;
    let unpacked: UnpackedDeb | undefined;
    let index = 0;
    for await (const member of readAr(createReadStream(deb.file, { highWaterMark: 256 * 1024 }), what)) {
      if (index++ === 0) {
        await checkFormat(member.name, member.body, what);
      } else if (member.name.startsWith('control.tar')) {
        control = await readControl(unpackedTar(member.name, member.body, what), what);
      } else if (member.name.startsWith('data.tar')) {
        if (control === undefined) throw notADeb(what, 'data.tar comes before control.tar');
        unpacked = await this.unpackData(control, unpackedTar(member.name, member.body, what), deb, what);
      } else if (!member.name.startsWith('_')) {
        throw notADeb(what, `it has an unknown member "${printable(member.name)}"`);
      }
    }
    if (unpacked === undefined) throw notADeb(what, 'it has no data.tar');
    this.db.record(unpacked);
    return unpacked;
  }

  private async unpackData(control: Map<string, Buffer>, data: AsyncIterable<Buffer>, deb: ResolvedDeb, what: string): Promise<UnpackedDeb> {
    const controlText = control.get('control');
    if (controlText === undefined) throw notADeb(what, 'its control archive has no control file');
    const fields = parseStanzas(controlText.toString('utf8'), `the control file of ${what}`)[0] ?? [];
    const name = fieldValue(fields, 'Package');
    if (name !== deb.stanza.package) {
      throw new InfraError('PACKAGE', `${what} is the package "${printable(name ?? '')}", not the one its index entry names; the repository is inconsistent: report it to its maintainers`);
    }
    const pkg: Unpacking = {
      name,
      replaces: new Set(relationNames(fieldValue(fields, 'Replaces'))),
      conffilePaths: new Set(lines(control.get('conffiles'))),
      paths: [],
      conffiles: new Map(),
      what,
    };
    for await (const member of this.members(readTar(data))) await this.unpackMember(member, pkg);
    const controlFiles = new Map([...control].filter(([member]) => member !== 'control'));
    return { control: fields as Field[], controlFiles, paths: pkg.paths, conffiles: pkg.conffiles };
  }

  private async unpackMember(member: TarMember, pkg: Unpacking): Promise<void> {
    const { entry } = member;
    const parts = memberComponents(entry.path, pkg.what);
    if (parts.length === 0) {
      pkg.paths.push('/.'); // the root stays as it is, as dpkg leaves it
      return;
    }
    const path = `/${parts.join('/')}`;
    const memberWhat = `${printable(path)} of ${pkg.what}`;
    pkg.paths.push(path);
    const at = resolve(this.root, parts, { followLast: false, notADirectory: 'fail', fail: pathProblem(memberWhat) });
    if (at === undefined) {
      throw new InfraError('PACKAGE', `${memberWhat} comes before its directory in the archive; the package is malformed: rebuild it`);
    }
    const { parent, name, inode: existing } = at;
    if (entry.type === 'dir') {
      if (existing === undefined) parent.children.set(name, { kind: 'dir', ...meta(entry), children: new Map() });
      else if (!this.isDirectory(parts)) throw overwriting(memberWhat, 'a directory', existing);
      return; // an existing directory, or symlink to one, is kept as it is
    }
    if (existing?.kind === 'dir') throw overwriting(memberWhat, `a ${entry.type}`, existing);
    this.claim(path, pkg, memberWhat);
    if (entry.type === 'file') {
      this.remove(parent, name); // first: the sink may reuse its blocks for the new bytes
      const body = pkg.conffilePaths.has(path) ? hashing(member.body, (md5) => pkg.conffiles.set(path, md5)) : member.body;
      const content = await this.sink.writeFile(body, entry.size, entry.sparse);
      parent.children.set(name, { kind: 'file', ...meta(entry), content });
      return;
    }
    this.put(parent, name, this.nonFile(entry, memberWhat));
  }

  private nonFile(entry: TarEntry, what: string): Inode {
    switch (entry.type) {
      case 'symlink':
        return { kind: 'symlink', ...meta(entry), target: entry.linkname };
      case 'hardlink': {
        const target = this.hardLinkTarget(entry.linkname, what);
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

  private hardLinkTarget(linkname: string, what: string): Inode {
    const parts = memberComponents(linkname, what);
    const target = resolve(this.root, parts, { followLast: false, notADirectory: 'missing', fail: pathProblem(what) })?.inode;
    if (target === undefined || target.kind === 'dir') {
      throw new InfraError('PACKAGE', `${what} is a hard link to "${printable(linkname)}", which the package has not unpacked before it; rebuild the package`);
    }
    return target;
  }

  /** dpkg's conflict check: a path in another package's list needs that package in Replaces. */
  private claim(path: string, pkg: Unpacking, what: string): void {
    for (const owner of this.db.otherOwners(path, pkg.name)) {
      if (!pkg.replaces.has(owner)) {
        throw new InfraError(
          'PACKAGE',
          `${what} is also in the package ${owner}, and ${pkg.name} does not declare Replaces: ${owner}; the two packages conflict: leave one of them out`,
        );
      }
      this.db.disown(owner, path);
    }
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

/** `debian-binary` must come first and say format 2.x. */
async function checkFormat(name: string, body: AsyncIterable<Buffer>, what: string): Promise<void> {
  if (name !== 'debian-binary') throw notADeb(what, `its first member is "${printable(name)}", not debian-binary`);
  const text = (await collect(body, 64, what)).toString('latin1');
  if (!text.startsWith(DEB_FORMAT_MAJOR)) throw notADeb(what, `its format is "${printable(text.trim())}", not 2.x`);
}

/** The control archive's files, by name (`control`, `md5sums`, `postinst`…). */
async function readControl(tar: AsyncIterable<Buffer>, what: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let bytes = 0;
  for await (const { entry, body } of readTar(tar, { maxEntrySize: MAX_CONTROL_BYTES })) {
    if (entry.type !== 'file') continue;
    const parts = memberComponents(entry.path, what);
    if (parts.length !== 1) continue;
    bytes += entry.size;
    if (bytes > MAX_CONTROL_BYTES || files.size === MAX_CONTROL_MEMBERS) throw notADeb(what, 'its control archive is too large');
    files.set(parts[0]!, await collect(body, entry.size, what));
  }
  return files;
}

/** A `control.tar*` or `data.tar*` member, decompressed by its name's suffix (deb(5)). */
function unpackedTar(name: string, body: AsyncIterable<Buffer>, what: string): AsyncIterable<Buffer> {
  const suffix = name.replace(/^(control|data)\.tar/, '');
  const described = `${name} of ${what}`;
  if (suffix === '' || suffix === '.gz' || suffix === '.zst' || suffix === '.xz') return decompress(body, undefined, described);
  throw notADeb(what, `its ${name} is compressed in a way infra.operator does not read (gzip, xz and zstd are)`);
}


/** Passes `body` on, reporting its md5 (hex) at the end. */
async function* hashing(body: AsyncIterable<Buffer>, done: (md5: string) => void): AsyncGenerator<Buffer> {
  const hash = createHash('md5');
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
  done(hash.digest('hex'));
}

async function collect(body: AsyncIterable<Buffer>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw notADeb(what, 'a control member is larger than it claims');
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/**
 * A member name's components (`./usr/bin/x` → usr, bin, x); `[]` for the root. A `..`
 * is refused: dpkg-deb never writes one, and a hostile one would climb out of the tree.
 */
function memberComponents(name: string, what: string): string[] {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) {
    throw new InfraError('PACKAGE', `${what} has a member "${printable(name)}" with "..": the package is hostile or broken; do not install it`);
  }
  return parts;
}

/** Archive metadata: numeric owners, mode bits, the member's mtime for every time. */
function meta(entry: TarEntry): InodeMeta {
  return { mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, atime: entry.mtime, mtime: entry.mtime, ctime: entry.mtime, xattrs: new Map() };
}

/** Package names of a relation field (`a (>= 1), b | c:any`), versions and arch qualifiers dropped. */
function relationNames(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(/[,|]/)
    .map((part) => part.trim().split(/[\s(:[]/)[0]!)
    .filter((name) => name !== '');
}

function lines(data: Buffer | undefined): string[] {
  return (data?.toString('latin1') ?? '').split('\n').map((line) => line.trim()).filter((line) => line !== '');
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

function overwriting(what: string, kind: string, existing: Inode): InfraError {
  return new InfraError('PACKAGE', `${what} is ${kind}, but the image has a ${existing.kind} there, which dpkg would not overwrite; fix the base image or leave the package out`);
}

/**
 * Unpacking `.deb` files into the in-memory tree with dpkg's semantics (dpkg's
 * src/main/archives.c `tarobject`; the placing itself is src/packages/unpack-tree.ts): a
 * file another package owns is a conflict unless this package Replaces it. Maintainer
 * scripts are not run.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { InfraError, printable } from '../../errors.js';
import { decompress } from '../../image/decompress.js';
import { readTar } from '../../tar/reader.js';
import type { TarMember } from '../../tar/entry.js';
import type { DataSink, DirInode } from '../../tree/tree.js';
import { hashedBody, memberComponents, TreeUnpacker, type MemberOwner } from '../unpack-tree.js';
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
  private readonly tree: TreeUnpacker;

  constructor(
    root: DirInode,
    sink: DataSink,
    readonly db: DpkgDatabase,
    /** Sees each data member on its way in (RetainedFiles keeps the ones configuration reads). */
    private readonly members: (members: AsyncIterable<TarMember>) => AsyncIterable<TarMember> = (members) => members,
  ) {
    this.tree = new TreeUnpacker(root, sink);
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
    const owner: MemberOwner = {
      what,
      tool: 'dpkg',
      claim: (path, memberWhat) => this.claim(path, pkg, memberWhat),
      fileBody: (path, _entry, body) => (pkg.conffilePaths.has(path) ? hashedBody(body, 'md5', (md5) => pkg.conffiles.set(path, md5.toString('hex'))) : body),
    };
    for await (const member of this.members(readTar(data))) {
      const { path } = await this.tree.place(member, owner);
      pkg.paths.push(path === '/' ? '/.' : path); // the root stays as it is, as dpkg leaves it
    }
    const controlFiles = new Map([...control].filter(([member]) => member !== 'control'));
    return { control: fields as Field[], controlFiles, paths: pkg.paths, conffiles: pkg.conffiles };
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

/**
 * Installing verified `.apk` files into the tree with apk-tools' semantics
 * (src/database.c `apk_db_install_archive_entry`; placing is src/packages/unpack-tree.ts):
 * each regular file and symlink is checked against its `APK-TOOLS.checksum.SHA1` PAX
 * record as it streams; a file another package owns is a conflict unless this package
 * replaces it (`replaces`) or both come from the same origin. Scripts are recorded in
 * the database, not run.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { InfraError, printable } from '../../errors.js';
import { decompress } from '../../image/decompress.js';
import type { TarEntry } from '../../tar/entry.js';
import { readTar } from '../../tar/reader.js';
import type { DataSink, DirInode } from '../../tree/tree.js';
import { hashedBody, TreeUnpacker, type MemberOwner } from '../unpack-tree.js';
import { recordField } from './apkindex.js';
import { HEADER_ORDER, type ApkDatabase, type InstalledApk, type InstalledDir } from './db.js';
import { pkginfoValue, pkginfoValues, readApkControl } from './package.js';
import type { ResolvedApk } from './types.js';

/** abuild's per-file checksum record (hex SHA-1 of a file's bytes, or of a symlink's target). */
export const CHECKSUM_RECORD = 'APK-TOOLS.checksum.SHA1';
const DEFAULT_DIR = { uid: 0, gid: 0, mode: 0o755 };

export class ApkInstaller {
  private readonly tree: TreeUnpacker;

  constructor(
    root: DirInode,
    sink: DataSink,
    readonly db: ApkDatabase,
  ) {
    this.tree = new TreeUnpacker(root, sink);
  }

  /** Unpacks one `.apk` (its hashes checked first) and records it in the database. */
  async install(apk: ResolvedApk): Promise<InstalledApk> {
    const { entry } = apk;
    const what = `the package ${entry.name} ${entry.version} (${basename(apk.file)})`;
    const control = await readApkControl(apk.file, entry, what);
    const replaces = new Set(pkginfoValues(control.pkginfo, 'replaces'));
    const origin = pkginfoValue(control.pkginfo, 'origin');
    const dirs = new Map<string, InstalledDir>();
    const owner: MemberOwner = {
      what,
      tool: 'apk',
      claim: (path, memberWhat) => this.claim(path, entry.name, replaces, origin, memberWhat),
      fileBody: (_path, tarEntry, body, memberWhat) => hashedBody(body, 'sha1', (sha1) => checkSum(tarEntry, sha1, memberWhat)),
    };
    const data = decompress(createReadStream(apk.file, { start: control.dataStart, highWaterMark: 256 * 1024 }), undefined, `the data part of ${what}`);
    for await (const member of readTar(data, { keepRecords: [CHECKSUM_RECORD] })) {
      if (member.entry.type === 'symlink') checkSum(member.entry, createHash('sha1').update(member.entry.linkname, 'latin1').digest(), `${printable(member.entry.path)} of ${what}`);
      const { path } = await this.tree.place(member, owner);
      if (path !== '/') listMember(dirs, path, member.entry);
    }
    const installed: InstalledApk = {
      name: entry.name,
      header: headerFields(entry.fields, control.pkginfo),
      dirs: [...dirs.values()],
      scripts: control.scripts,
      triggers: pkginfoValues(control.pkginfo, 'triggers'),
      buildTime: Number(pkginfoValue(control.pkginfo, 'builddate') ?? 0) || 0,
    };
    this.db.record(installed);
    return installed;
  }

  /** apk's overwrite rule: another package's file needs `replaces`, or the same origin. */
  private claim(path: string, name: string, replaces: ReadonlySet<string>, origin: string | undefined, what: string): void {
    const owner = this.db.owner(path);
    if (owner === undefined || owner === name) return;
    const sameOrigin = origin !== undefined && recordField(this.db.installed(owner) ?? [], 'o') === origin;
    if (!replaces.has(owner) && !sameOrigin) {
      throw new InfraError('PACKAGE', `${what} is also in the package ${owner}, and ${name} does not replace it; the two packages conflict: leave one of them out`);
    }
    this.db.disown(owner, path);
  }
}

/** The member's SHA-1 must be its checksum record's, when it has one (abuild writes one for every file and symlink). */
function checkSum(entry: TarEntry, sha1: Buffer, what: string): void {
  const recorded = entry.records?.get(CHECKSUM_RECORD)?.toString('latin1');
  if (recorded !== undefined && recorded.toLowerCase() !== sha1.toString('hex')) {
    throw new InfraError('INTEGRITY', `${what} has the SHA-1 ${sha1.toString('hex')}, not the ${printable(recorded.slice(0, 64))} its archive records; the package is damaged: try again, or use another mirror`);
  }
}

/** Adds a placed member to the installed record's directory list. */
function listMember(dirs: Map<string, InstalledDir>, path: string, entry: TarEntry): void {
  const relative = path.slice(1);
  if (entry.type === 'dir') {
    const dir = dirRecord(dirs, relative);
    Object.assign(dir, { uid: entry.uid, gid: entry.gid, mode: entry.mode & 0o7777 });
    return;
  }
  const slash = relative.lastIndexOf('/');
  const dir = dirRecord(dirs, slash < 0 ? '' : relative.slice(0, slash));
  const sum = entry.records?.get(CHECKSUM_RECORD)?.toString('latin1');
  dir.files.push({
    name: relative.slice(slash + 1),
    uid: entry.uid,
    gid: entry.gid,
    mode: entry.type === 'symlink' ? 0o777 : entry.mode & 0o7777,
    ...(sum !== undefined ? { checksum: `Q1${Buffer.from(sum, 'hex').toString('base64')}` } : {}),
  });
}

function dirRecord(dirs: Map<string, InstalledDir>, path: string): InstalledDir {
  let dir = dirs.get(path);
  if (dir === undefined) dirs.set(path, (dir = { path, ...DEFAULT_DIR, files: [] }));
  return dir;
}

/** The index entry's fields in installed-database order, with `r:` and `q:` from `.PKGINFO`. */
function headerFields(indexFields: ReadonlyArray<readonly [string, string]>, pkginfo: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  const fields = new Map<string, string>();
  for (const [key, value] of indexFields) if (HEADER_ORDER.includes(key) && !fields.has(key)) fields.set(key, value);
  const replaces = pkginfoValues(pkginfo, 'replaces');
  if (replaces.length > 0) fields.set('r', replaces.join(' '));
  const priority = pkginfoValue(pkginfo, 'replaces_priority');
  if (priority !== undefined) fields.set('q', priority);
  return [...HEADER_ORDER].flatMap((key) => (fields.has(key) ? [[key, fields.get(key)!] as [string, string]] : []));
}

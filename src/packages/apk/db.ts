/**
 * apk's database in the image, as apk-tools writes it (src/database.c `apk_db_write_fdb`,
 * `apk_db_scriptdb_write`, `apk_db_triggers_write`; the Alpine minirootfs holds real
 * examples): `/lib/apk/db/installed` (one record per package: the index fields C P V A S
 * I T U L o m t c k D p i, then r: replaces and q: replaces_priority, then per directory
 * `F:` with `M:uid:gid:mode` unless 0:0:755, and per file `R:` with `a:uid:gid:mode`
 * unless 0:0:644 and `Z:` its Q1 checksum), `scripts.tar` (`NAME-VERSION.Q1….SCRIPT`),
 * `triggers` (`Q1… PATH...`) and `/etc/apk/world`.
 */
import { InfraError, printable } from '../../errors.js';
import { writeTar } from '../../tar/writer.js';
import type { TreeEditor } from '../../tree/edit.js';
import type { BaseFiles } from '../deb/sources.js';
import { parseRecords, recordField, type ApkRecord } from './apkindex.js';
import { smallTarFiles } from './archive.js';

export const INSTALLED = '/lib/apk/db/installed';
export const SCRIPTS = '/lib/apk/db/scripts.tar';
export const TRIGGERS = '/lib/apk/db/triggers';
export const WORLD = '/etc/apk/world';
/** The package header fields of an installed record, in apk-tools' order. */
export const HEADER_ORDER = 'CPVASITULomtckDpirq';
const MAX_SCRIPTS_BYTES = 256 * 1024 * 1024;
const MAX_SCRIPTS = 100_000;

/** One file of a package's data, as the installed record lists it. */
export interface InstalledFile {
  name: string;
  uid: number;
  gid: number;
  mode: number;
  /** `Q1…`, from the archive's APK-TOOLS.checksum.SHA1. */
  checksum?: string;
}

export interface InstalledDir {
  /** Relative to the root, no leading slash. */
  path: string;
  uid: number;
  gid: number;
  mode: number;
  files: InstalledFile[];
}

/** A package just unpacked. */
export interface InstalledApk {
  name: string;
  /** The header fields (HEADER_ORDER keys), in that order. */
  header: Array<[string, string]>;
  dirs: InstalledDir[];
  scripts: Map<string, Buffer>;
  /** `.PKGINFO` triggers: path globs. */
  triggers: string[];
  /** Build time (`t:`), the scripts' mtime. */
  buildTime: number;
}

interface Known {
  name: string;
  record: ApkRecord;
}

export class ApkDatabase {
  private readonly packages = new Map<string, Known>();
  /** Absolute path → owning package. */
  private readonly owners = new Map<string, string>();
  private readonly world = new Set<string>();

  private constructor(
    private readonly scripts: Map<string, Buffer>,
    private readonly triggers: Map<string, string>,
  ) {}

  /** The base image's database; none when it has no /lib/apk/db/installed. */
  static async read(base: BaseFiles): Promise<ApkDatabase> {
    const scriptsTar = base.readFile(SCRIPTS);
    const scripts = scriptsTar ? await smallTarFiles(scriptsTar, MAX_SCRIPTS_BYTES, printable(SCRIPTS), MAX_SCRIPTS) : new Map<string, Buffer>();
    const triggers = new Map<string, string>();
    for (const line of (base.readFile(TRIGGERS)?.toString('utf8') ?? '').split('\n')) {
      const space = line.indexOf(' ');
      if (space > 0) triggers.set(line.slice(0, space), line.slice(space + 1));
    }
    const db = new ApkDatabase(scripts, triggers);
    for (const record of parseRecords(base.readFile(INSTALLED)?.toString('utf8') ?? '', INSTALLED)) db.add(record);
    for (const name of (base.readFile(WORLD)?.toString('utf8') ?? '').split(/\s+/)) if (name !== '') db.world.add(name);
    return db;
  }

  /** The installed package of that name, as its record says. */
  installed(name: string): ApkRecord | undefined {
    return this.packages.get(name)?.record;
  }

  installedNames(): string[] {
    return [...this.packages.keys()];
  }

  /** The package that owns the non-directory `path` (absolute). */
  owner(path: string): string | undefined {
    return this.owners.get(path);
  }

  disown(name: string, path: string): void {
    if (this.owners.get(path) !== name) return;
    this.owners.delete(path);
    const known = this.packages.get(name)!;
    known.record = withoutFile(known.record, path);
  }

  /** Records a package just unpacked, replacing an older version's record. */
  record(pkg: InstalledApk): void {
    const old = this.packages.get(pkg.name);
    if (old !== undefined) for (const [path, owner] of this.owners) if (owner === pkg.name) this.owners.delete(path);
    if (old !== undefined) {
      const prefix = scriptPrefix(old.record);
      for (const key of [...this.scripts.keys()]) if (key.startsWith(prefix)) this.scripts.delete(key);
      this.triggers.delete(recordField(old.record, 'C') ?? '');
    }
    for (const [script, data] of pkg.scripts) {
      const key = `${scriptPrefix(pkg.header)}${script}`;
      this.scripts.set(key, data);
      this.scriptTimes.set(key, pkg.buildTime);
    }
    if (pkg.triggers.length > 0) this.triggers.set(recordField(pkg.header, 'C')!, pkg.triggers.join(' '));
    this.add([...pkg.header, ...pkg.dirs.flatMap(dirLines)]);
  }

  /** Adds names to /etc/apk/world (what was asked for, not what came as dependencies). */
  addWorld(names: readonly string[]): void {
    for (const name of names) this.world.add(name);
  }

  /** scripts.tar entry → mtime, for the scripts added (kept ones were read without it). */
  private readonly scriptTimes = new Map<string, number>();

  async write(editor: TreeEditor): Promise<void> {
    editor.ensureDir('/lib/apk/db', 0o755);
    editor.ensureDir('/etc/apk', 0o755);
    const records = [...this.packages.values()].map(({ record }) => `${record.map(([k, v]) => `${k}:${v}\n`).join('')}\n`);
    await editor.putFile(INSTALLED, records.join(''), 0o644);
    const scripts = [...this.scripts].map(([path, data]) => ({ path, data, mode: 0o755, mtime: this.scriptTimes.get(path) ?? 0 }));
    await editor.putFile(SCRIPTS, writeTar(scripts, { pax: true }), 0o644);
    await editor.putFile(TRIGGERS, [...this.triggers].map(([checksum, paths]) => `${checksum} ${paths}\n`).join(''), 0o644);
    await editor.putFile(WORLD, [...this.world].sort().map((name) => `${name}\n`).join(''), 0o644);
  }

  private add(record: ApkRecord): void {
    const name = recordField(record, 'P');
    if (name === undefined) throw new InfraError('PACKAGE', `${INSTALLED} has a record without P:; fix the base image's apk database, or use another base`);
    this.packages.set(name, { name, record });
    let dir = '';
    for (const [key, value] of record) {
      if (key === 'F') dir = value;
      else if (key === 'R') this.owners.set(`/${dir === '' ? '' : `${dir}/`}${value}`, name);
    }
  }
}

/** scripts.tar entries of a package start `NAME-VERSION.Q1….` (its C:). */
function scriptPrefix(record: ReadonlyArray<readonly [string, string]>): string {
  return `${recordField(record, 'P')}-${recordField(record, 'V')}.${recordField(record, 'C')}.`;
}

function dirLines(dir: InstalledDir): Array<[string, string]> {
  const lines: Array<[string, string]> = [['F', dir.path]];
  if (dir.uid !== 0 || dir.gid !== 0 || dir.mode !== 0o755) lines.push(['M', acl(dir)]);
  for (const file of dir.files) {
    lines.push(['R', file.name]);
    if (file.uid !== 0 || file.gid !== 0 || file.mode !== 0o644) lines.push(['a', acl(file)]);
    if (file.checksum !== undefined) lines.push(['Z', file.checksum]);
  }
  return lines;
}

function acl(meta: { uid: number; gid: number; mode: number }): string {
  return `${meta.uid}:${meta.gid}:${meta.mode.toString(8)}`;
}

/** A record without the file `path` (its R: line and the a:/Z: lines after it). */
function withoutFile(record: ApkRecord, path: string): ApkRecord {
  const out: ApkRecord = [];
  let dir = '';
  let skipping = false;
  for (const [key, value] of record) {
    if (key === 'F') dir = value;
    if (key === 'R') skipping = `/${dir === '' ? '' : `${dir}/`}${value}` === path;
    else if (key !== 'a' && key !== 'Z') skipping = false;
    if (!skipping) out.push([key, value]);
  }
  return out;
}

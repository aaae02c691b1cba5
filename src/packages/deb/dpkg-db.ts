/**
 * The dpkg database in the tree, as dpkg(1) keeps it (dpkg's lib/dpkg/dbmodify.c,
 * parse.c, dump.c): `/var/lib/dpkg/status` (one deb822 stanza per package) and
 * `/var/lib/dpkg/info/PKG[:ARCH].*` (the file list, and the control members). The base
 * image's entries are read back and kept byte for byte; packages unpacked here are
 * recorded as `dpkg --unpack` leaves them: `install ok unpacked`, scripts not run, until
 * their configuration is done (src/packages/configure/): `install ok installed`.
 */
import { InfraError, printable } from '../../errors.js';
import type { TreeEditor } from '../../tree/edit.js';
import type { ReadTreeFile } from '../retained.js';

export const DPKG_ADMIN_DIR = '/var/lib/dpkg';
const STATUS = `${DPKG_ADMIN_DIR}/status`;
const INFO = `${DPKG_ADMIN_DIR}/info`;

/** The Status field of a package unpacked but not configured (dpkg(1) "Package states"). */
export const UNPACKED_STATUS = 'install ok unpacked';
/** The Status field of a configured package. */
export const INSTALLED_STATUS = 'install ok installed';

/**
 * The order dpkg writes the fields of a status stanza in (lib/dpkg/parse.c `fieldinfos`);
 * other fields follow in the order the control file has them.
 */
const STATUS_FIELD_ORDER = [
  'Package', 'Essential', 'Protected', 'Status', 'Priority', 'Section', 'Installed-Size', 'Origin',
  'Maintainer', 'Bugs', 'Architecture', 'Multi-Arch', 'Source', 'Version', 'Config-Version',
  'Replaces', 'Provides', 'Depends', 'Pre-Depends', 'Recommends', 'Suggests', 'Breaks',
  'Conflicts', 'Enhances', 'Conffiles', 'Description', 'Triggers-Pending', 'Triggers-Awaited',
];

/** Control members that are executable in info/ (deb(5), deb-preinst(5)…, deb-config(5)). */
const EXECUTABLE_CONTROL = new Set(['preinst', 'postinst', 'prerm', 'postrm', 'config']);

/** One deb822 field as written: `value` keeps its continuation lines (with their leading space). */
export type Field = readonly [name: string, value: string];

/** Splits deb822 text (Debian Policy §5.1) into stanzas of fields, in order. */
export function parseStanzas(text: string, what: string): Field[][] {
  const stanzas: Field[][] = [];
  let fields: Field[] = [];
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') {
      if (fields.length > 0) stanzas.push(fields);
      fields = [];
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = fields.pop();
      if (last === undefined) throw malformedDb(what, `line ${index + 1} continues no field`);
      fields.push([last[0], `${last[1]}\n${line}`]);
    } else if (!line.startsWith('#')) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw malformedDb(what, `line ${index + 1} is not "Field: value"`);
      fields.push([line.slice(0, colon), line.slice(colon + 1).trimStart()]);
    }
  }
  if (fields.length > 0) stanzas.push(fields);
  return stanzas;
}

export function fieldValue(fields: readonly Field[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return fields.find(([field]) => field.toLowerCase() === lower)?.[1];
}

function formatStanza(fields: readonly Field[]): string {
  return fields.map(([name, value]) => (value.startsWith('\n') || value === '' ? `${name}:${value}` : `${name}: ${value}`)).join('\n') + '\n';
}

/** What unpacking one .deb produced, for the database to record. */
export interface UnpackedDeb {
  /** The control file's fields, in order. */
  control: Field[];
  /** Control archive members other than `control`: md5sums, conffiles, maintainer scripts, triggers… */
  controlFiles: ReadonlyMap<string, Buffer>;
  /** Every member's path (`/.`, `/usr`, `/usr/bin/python3`…), in archive order: the `.list` file. */
  paths: readonly string[];
  /** Conffile path → md5 (hex) of what was unpacked. */
  conffiles: ReadonlyMap<string, string>;
}

interface PackageEntry {
  name: string;
  architecture: string;
  /** `name:arch` for Multi-Arch: same packages (as dpkg names their info files), else `name`. */
  infoName: string;
  fields: Field[];
  /** The file list, when known; rewritten when `dirty`. */
  list: string[];
  dirty: boolean;
  /** Control members to write into info/ (packages unpacked here only). */
  controlFiles?: ReadonlyMap<string, Buffer>;
}

/** The dpkg database of one tree, read from the base and extended as packages are unpacked. */
export class DpkgDatabase {
  /** By `infoName`. */
  private readonly packages = new Map<string, PackageEntry>();
  /** Path (as in .list files) → names of the packages that list it. */
  private readonly owners = new Map<string, Set<string>>();

  /** The database of the base image (empty when it has none). */
  static read(readFile: ReadTreeFile): DpkgDatabase {
    const db = new DpkgDatabase();
    const status = readFile(STATUS);
    if (status === undefined) return db;
    for (const fields of parseStanzas(status.toString('utf8'), STATUS)) {
      const entry = packageEntry(fields, STATUS);
      const list = readFile(`${INFO}/${entry.infoName}.list`);
      entry.list = list === undefined ? [] : list.toString('latin1').split('\n').filter((line) => line !== '');
      db.add(entry);
    }
    return db;
  }

  /** Names of the packages other than `name` whose file lists hold `path`. */
  otherOwners(path: string, name: string): string[] {
    return [...(this.owners.get(path) ?? [])].filter((owner) => owner !== name);
  }

  /** `replaced` gives `path` up (Replaces): dpkg drops it from that package's file list. */
  disown(replaced: string, path: string): void {
    this.owners.get(path)?.delete(replaced);
    for (const entry of this.packages.values()) {
      if (entry.name !== replaced) continue;
      entry.list = entry.list.filter((line) => line !== path);
      entry.dirty = true;
    }
  }

  /** Whether a package of that name is recorded (installed in the base, or unpacked here). */
  has(name: string): boolean {
    return [...this.packages.values()].some((entry) => entry.name === name);
  }

  /** Records an unpacked package, replacing an older version of it. */
  record(deb: UnpackedDeb): void {
    const conffiles = [...deb.conffiles].map(([path, md5]) => `\n ${path} ${md5}`).join('');
    const fields = statusFields(deb.control, conffiles);
    const entry = packageEntry(fields, 'the control file');
    const old = this.packages.get(entry.infoName);
    if (old !== undefined) for (const path of old.list) this.owners.get(path)?.delete(old.name);
    entry.list = [...deb.paths];
    entry.dirty = true;
    entry.controlFiles = deb.controlFiles;
    this.add(entry);
  }

  /** A package unpacked here whose configuration was done: `install ok installed`. */
  markInstalled(name: string): void {
    for (const entry of this.packages.values()) {
      if (entry.name !== name || entry.controlFiles === undefined) continue;
      entry.fields = entry.fields.map((field) => (field[0] === 'Status' ? ['Status', INSTALLED_STATUS] : field));
    }
  }

  /** Writes the status file and the info files of what changed. */
  async write(editor: TreeEditor): Promise<void> {
    editor.ensureDir(INFO, 0o755);
    const sorted = [...this.packages.values()].sort((a, b) => compare(a.name, b.name) || compare(a.architecture, b.architecture));
    await editor.putFile(STATUS, sorted.map((entry) => formatStanza(entry.fields)).join('\n'), 0o644);
    for (const entry of sorted) {
      if (!entry.dirty) continue;
      await editor.putFile(`${INFO}/${entry.infoName}.list`, Buffer.from(entry.list.map((line) => `${line}\n`).join(''), 'latin1'), 0o644);
      for (const [member, data] of entry.controlFiles ?? []) {
        await editor.putFile(`${INFO}/${entry.infoName}.${member}`, data, EXECUTABLE_CONTROL.has(member) ? 0o755 : 0o644);
      }
    }
  }

  private add(entry: PackageEntry): void {
    this.packages.set(entry.infoName, entry);
    for (const path of entry.list) {
      let names = this.owners.get(path);
      if (names === undefined) this.owners.set(path, (names = new Set()));
      names.add(entry.name);
    }
  }
}

function packageEntry(fields: Field[], what: string): PackageEntry {
  const name = fieldValue(fields, 'Package');
  const architecture = fieldValue(fields, 'Architecture') ?? 'all';
  if (name === undefined || !/^[a-z0-9][a-z0-9+.-]*$/.test(name)) {
    throw malformedDb(what, `a stanza has no valid Package field (${printable(name ?? 'none')})`);
  }
  const same = fieldValue(fields, 'Multi-Arch') === 'same';
  return { name, architecture, infoName: same ? `${name}:${architecture}` : name, fields, list: [], dirty: false };
}

/** The control fields in dpkg's status order, with Status and Conffiles added. */
function statusFields(control: readonly Field[], conffiles: string): Field[] {
  const byName = new Map<string, Field>();
  for (const field of control) if (!['status', 'conffiles'].includes(field[0].toLowerCase())) byName.set(field[0], field);
  byName.set('Status', ['Status', UNPACKED_STATUS]);
  if (conffiles !== '') byName.set('Conffiles', ['Conffiles', conffiles]);
  const known = STATUS_FIELD_ORDER.flatMap((name) => (byName.has(name) ? [byName.get(name)!] : []));
  const rest = [...byName.values()].filter(([name]) => !STATUS_FIELD_ORDER.includes(name));
  return [...known, ...rest];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function malformedDb(what: string, detail: string): InfraError {
  return new InfraError('PACKAGE', `${printable(what)} is malformed (${detail}); fix the base image's dpkg database, or use another base`);
}

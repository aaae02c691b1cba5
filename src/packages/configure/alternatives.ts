/**
 * The alternatives system as update-alternatives(1) keeps it (dpkg's
 * utils/update-alternatives.c): each `--install LINK NAME PATH PRIORITY [--slave LINK NAME
 * PATH]…` registers a choice; in auto mode the choice of highest priority wins, and its
 * links are made: `LINK -> /etc/alternatives/NAME -> PATH`, slaves alike. The
 * administrative file `/var/lib/dpkg/alternatives/NAME` is written as update-alternatives
 * saves it (`alternative_save`): mode, master link, slaves sorted by name, then the choices
 * sorted by path, each with its priority and its slave paths, and an empty line.
 */
import { compareBytes, type DirInode } from '../../tree/tree.js';
import { resolvePath, type TreeEditor } from '../../tree/edit.js';

export const ALTERNATIVES_DIR = '/etc/alternatives';
export const ALTERNATIVES_ADMIN_DIR = '/var/lib/dpkg/alternatives';
/** update-alternatives refuses priorities outside a C int. */
const MAX_PRIORITY = 2 ** 31 - 1;

interface Choice {
  path: string;
  priority: number;
  /** Slave name → path. */
  slaves: Map<string, string>;
}

interface Group {
  link: string;
  /** Slave name → link. */
  slaves: Map<string, string>;
  choices: Map<string, Choice>;
}

/** The parsed arguments of one `update-alternatives --install` call. */
export interface InstallCall {
  link: string;
  name: string;
  path: string;
  priority: number;
  slaves: Array<{ link: string; name: string; path: string }>;
}

export class Alternatives {
  private readonly groups = new Map<string, Group>();
  /** Groups `install` changed: only those are written. */
  private readonly touched = new Set<string>();

  /** `readAdmin(name)`: the base's `/var/lib/dpkg/alternatives/NAME`, joined by new choices. */
  constructor(private readonly readAdmin: (path: string) => Buffer | undefined) {}

  /** Arguments of `update-alternatives [options] --install …`, or undefined when they are not that form. */
  static parseInstall(args: readonly string[]): InstallCall | undefined {
    const rest = args.filter((arg) => !['--quiet', '--verbose', '--debug', '--force'].includes(arg));
    if (rest[0] !== '--install' || rest.length < 5) return undefined;
    const [, link, name, path, priorityText] = rest as [string, string, string, string, string];
    const priority = Number(priorityText);
    if (!/^-?\d+$/.test(priorityText) || Math.abs(priority) > MAX_PRIORITY) return undefined;
    const slaves: InstallCall['slaves'] = [];
    for (let i = 5; i < rest.length; i += 4) {
      if (rest[i] !== '--slave' || i + 3 >= rest.length) return undefined;
      slaves.push({ link: rest[i + 1]!, name: rest[i + 2]!, path: rest[i + 3]! });
    }
    return { link, name, path, priority, slaves };
  }

  has(name: string): boolean {
    return this.group(name) !== undefined;
  }

  /**
   * Registers a choice, as `--install` does; the links are made by `write`. False when the
   * base has the group in a form not followed here (manual mode).
   */
  install(call: InstallCall): boolean {
    let group = this.group(call.name);
    if (group === undefined && this.readAdmin(`${ALTERNATIVES_ADMIN_DIR}/${call.name}`) !== undefined) return false;
    if (group === undefined) this.groups.set(call.name, (group = { link: call.link, slaves: new Map(), choices: new Map() }));
    group.link = call.link;
    const slaves = new Map<string, string>();
    for (const slave of call.slaves) {
      group.slaves.set(slave.name, slave.link);
      slaves.set(slave.name, slave.path);
    }
    group.choices.set(call.path, { path: call.path, priority: call.priority, slaves });
    this.touched.add(call.name);
    return true;
  }

  private group(name: string): Group | undefined {
    let group = this.groups.get(name);
    const admin = group === undefined ? this.readAdmin(`${ALTERNATIVES_ADMIN_DIR}/${name}`) : undefined;
    if (admin !== undefined) {
      group = parseAdmin(admin.toString('latin1'));
      if (group !== undefined) this.groups.set(name, group);
    }
    return group;
  }

  /** Makes the links of every group's best choice and writes the administrative files. */
  async write(editor: TreeEditor): Promise<void> {
    if (this.touched.size === 0) return;
    editor.ensureDir(ALTERNATIVES_DIR, 0o755);
    editor.ensureDir(ALTERNATIVES_ADMIN_DIR, 0o755);
    for (const name of [...this.touched].sort(compareBytes)) {
      const group = this.groups.get(name)!;
      const choices = [...group.choices.values()].sort((a, b) => compareBytes(a.path, b.path));
      const best = choices.reduce((a, b) => (b.priority > a.priority ? b : a));
      link(editor, group.link, name, best.path);
      for (const [slave, slaveLink] of sortedSlaves(group)) {
        const path = best.slaves.get(slave);
        // update-alternatives skips a slave whose file the chosen alternative lacks.
        if (path !== undefined && exists(editor.root, path)) link(editor, slaveLink, slave, path);
      }
      await editor.putFile(`${ALTERNATIVES_ADMIN_DIR}/${name}`, Buffer.from(adminFile(group, choices), 'latin1'), 0o644);
    }
  }
}

/** The group's administrative file (`alternative_load`): undefined when malformed or in manual mode. */
function parseAdmin(text: string): Group | undefined {
  const lines = text.split('\n');
  let at = 0;
  const next = () => lines[at++];
  if (next() !== 'auto') return undefined;
  const link = next();
  if (link === undefined || link === '') return undefined;
  const slaves = new Map<string, string>();
  for (let name = next(); name !== '' && name !== undefined; name = next()) slaves.set(name, next() ?? '');
  const choices = new Map<string, Choice>();
  for (let path = next(); path !== '' && path !== undefined; path = next()) {
    const priority = Number(next());
    if (!Number.isInteger(priority)) return undefined;
    const paths = new Map<string, string>();
    for (const name of [...slaves.keys()].sort(compareBytes)) {
      const slavePath = next();
      if (slavePath) paths.set(name, slavePath);
    }
    choices.set(path, { path, priority, slaves: paths });
  }
  return { link, slaves, choices };
}

/** `LINK -> /etc/alternatives/NAME -> PATH`; a real file at LINK is left alone, as update-alternatives does. */
function link(editor: TreeEditor, path: string, name: string, target: string): void {
  editor.putSymlink(`${ALTERNATIVES_DIR}/${name}`, target);
  const existing = resolvePath(editor.root, path, false)?.inode;
  if (existing === undefined || existing.kind === 'symlink') editor.putSymlink(path, `${ALTERNATIVES_DIR}/${name}`);
}

function sortedSlaves(group: Group): Array<[string, string]> {
  return [...group.slaves].sort(([a], [b]) => compareBytes(a, b));
}

function adminFile(group: Group, choices: readonly Choice[]): string {
  const slaves = sortedSlaves(group);
  const lines = ['auto', group.link, ...slaves.flatMap(([name, slaveLink]) => [name, slaveLink]), ''];
  for (const choice of choices) lines.push(choice.path, String(choice.priority), ...slaves.map(([name]) => choice.slaves.get(name) ?? ''));
  return `${lines.join('\n')}\n\n`;
}

function exists(root: DirInode, path: string): boolean {
  return resolvePath(root, path)?.inode !== undefined;
}

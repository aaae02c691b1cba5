/**
 * PHP's module switches as Debian's php-common ships them (`/usr/lib/php/php-helper`,
 * `php-maintscript-helper`, phpenmod, phpquery): `php_invoke enmod VERSION SAPI|ALL MODULE`
 * links `/etc/php/V/SAPI/conf.d/NN-MODULE.ini -> /etc/php/V/mods-available/MODULE.ini`
 * (NN from the ini's `; priority=NN` line, else 20) for each SAPI of
 * `/usr/lib/php/V/sapi/`, and records the state phpquery reads:
 * `/var/lib/php/modules/V/SAPI/enabled_by_maint/MODULE`, and for ALL
 * `/var/lib/php/modules/V/registry/MODULE`. `phpquery -M -v V` lists the modules.
 */
import { posix } from 'node:path';
import type { CommandHandler } from './commands.js';
import { FAILED, OK } from './commands.js';
import type { StagedTree } from './staged.js';

/** The helper php's maintainer scripts source; its functions are handled here as commands. */
export const PHP_MAINTSCRIPT_HELPER = '/usr/lib/php/php-maintscript-helper';
const DEFAULT_PRIORITY = '20';
const STATE_DIR = '/var/lib/php/modules';
/** get_priority's sed: `s/^;[[:space:]]*priority[[:space:]]*=[[:space:]]*\([0-9]\+\)[[:space:]]*$/\1/p`. */
const PRIORITY_LINE = /^;[ \t\v\f\r]*priority[ \t\v\f\r]*=[ \t\v\f\r]*([0-9]+)[ \t\v\f\r]*$/m;

export function phpCommands(tree: StagedTree): Map<string, CommandHandler> {
  return new Map<string, CommandHandler>([
    ['phpquery', (args) => (args.length === 3 && args[0] === '-M' && args[1] === '-v' ? listModules(tree, args[2]!) : undefined)],
    ['php_invoke', (args) => (args.length === 4 && args[0] === 'enmod' && /^[0-9.]+$/.test(args[1]!) ? enable(tree, args[1]!, args[2]!, args[3]!) : undefined)],
  ]);
}

function listModules(tree: StagedTree, version: string) {
  const names = tree.list(`/etc/php/${version}/mods-available`).filter((name) => name.endsWith('.ini'));
  return { status: 0, output: names.map((name) => `${name.slice(0, -'.ini'.length)}\n`).join('') };
}

function enable(tree: StagedTree, version: string, sapi: string, module: string) {
  const ini = `/etc/php/${version}/mods-available/${module}.ini`;
  const text = tree.read(ini)?.toString('utf8');
  if (text === undefined || !/^[A-Za-z0-9_.-]+$/.test(module)) return FAILED;
  const priority = PRIORITY_LINE.exec(text)?.[1] ?? DEFAULT_PRIORITY;
  const sapis = sapi === 'ALL' ? tree.list(`/usr/lib/php/${version}/sapi`) : [sapi];
  if (sapi === 'ALL') touch(tree, `${STATE_DIR}/${version}/registry/${module}`);
  for (const name of sapis) {
    const confDir = `/etc/php/${version}/${name}/conf.d`;
    if (tree.kind(confDir) !== 'dir') return FAILED;
    touch(tree, `${STATE_DIR}/${version}/${name}/enabled_by_maint/${module}`);
    const link = `${confDir}/${priority}-${module}.ini`;
    if (tree.kind(link, false) !== 'symlink') tree.symlink(link, ini);
  }
  return OK;
}

function touch(tree: StagedTree, path: string): void {
  for (const dir of ancestors(posix.dirname(path))) if (tree.kind(dir) === undefined) tree.mkdir(dir, 0o755);
  if (tree.kind(path) === undefined) tree.writeFile(path, Buffer.alloc(0), 0o644);
}

function ancestors(dir: string): string[] {
  const parts = dir.split('/').filter((p) => p !== '');
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/**
 * The commands maintainer scripts call that the static configuration does itself, on the
 * staged tree: the file utilities postinst scripts use for their small files (mkdir,
 * touch, chmod, install -d, ln -s, rm of nothing), lookups (which, command -v, mountpoint)
 * and dpkg's helpers (--print-architecture, --compare-versions, dpkg-maintscript-helper,
 * dpkg-statoverride). A command not here, or used in a form not here, is not handled.
 */
import { posix } from 'node:path';
import { compareVersions } from '../deb/version.js';
import type { HostResult } from './shell-run.js';
import type { StagedTree } from './staged.js';

export type CommandHandler = (args: readonly string[]) => HostResult | undefined;

export const OK: HostResult = { status: 0, output: '' };
export const FAILED: HostResult = { status: 1, output: '' };
/** Where `which` looks: the PATH dpkg gives maintainer scripts. */
const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
/** umask 022: what mkdir and touch create. */
const DIR_MODE = 0o755;
const FILE_MODE = 0o644;

/** The file and lookup commands, against `tree`; `statOverrides` collects `dpkg-statoverride --add` lines. */
export function fileCommands(tree: StagedTree, arch: string, statOverrides: string[]): Map<string, CommandHandler> {
  const which = (name: string): string | undefined =>
    name.includes('/') ? (tree.kind(name) === 'file' ? name : undefined) : SEARCH_PATH.map((dir) => `${dir}/${name}`).find((path) => tree.kind(path) === 'file');
  return new Map<string, CommandHandler>([
    ['mkdir', (args) => mkdir(tree, args)],
    ['install', (args) => (args[0] === '-d' ? mkdir(tree, ['-p', ...args.slice(1)]) : undefined)],
    ['touch', (args) => each(args, (path) => tree.kind(path) !== undefined || (tree.writeFile(path, Buffer.alloc(0), FILE_MODE), true))],
    ['chmod', (args) => chmod(tree, args)],
    ['ln', (args) => ln(tree, args)],
    // Removing what is not there changes nothing; removing what is, is not done here.
    ['rm', (args) => (args.filter((a) => !a.startsWith('-')).every((path) => tree.kind(path, false) === undefined) ? OK : undefined)],
    ['which', (args) => lookup(args.find((a) => !a.startsWith('-')), which)],
    ['command', (args) => (args[0] === '-v' ? lookup(args[1], (name) => which(name)) : undefined)],
    // The image boots with /proc mounted; the check guards the script's own environment.
    ['mountpoint', (args) => (args.at(-1) === '/proc' ? OK : undefined)],
    ['dpkg', (args) => dpkg(args, arch)],
    // Its postinst actions (symlink_to_dir, rm_conffile, mv_conffile…) act only on upgrades.
    ['dpkg-maintscript-helper', () => OK],
    ['dpkg-statoverride', (args) => statOverride(tree, args, statOverrides)],
  ]);
}

function each(args: readonly string[], act: (path: string) => boolean): HostResult | undefined {
  const paths = args.filter((a) => !a.startsWith('-'));
  if (paths.length !== args.length) return undefined;
  return paths.every(act) ? OK : FAILED;
}

function mkdir(tree: StagedTree, args: readonly string[]): HostResult | undefined {
  let parents = false;
  let mode = DIR_MODE;
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-p') parents = true;
    else if (arg === '-m' && /^[0-7]{3,4}$/.test(args[i + 1] ?? '')) mode = parseInt(args[++i]!, 8);
    else if (arg.startsWith('-')) return undefined;
    else paths.push(arg);
  }
  for (const path of paths) {
    const kind = tree.kind(path);
    if (kind === 'dir' && parents) continue;
    if (kind !== undefined) return FAILED;
    if (tree.kind(posix.dirname(path)) !== 'dir') {
      if (!parents) return FAILED;
      mkdir(tree, ['-p', posix.dirname(path)]);
    }
    tree.mkdir(path, mode);
  }
  return OK;
}

function chmod(tree: StagedTree, args: readonly string[]): HostResult | undefined {
  const [mode, ...paths] = args;
  if (mode === undefined || !/^[0-7]{1,4}$/.test(mode) || paths.length === 0 || paths.some((p) => p.startsWith('-'))) return undefined;
  for (const path of paths) {
    if (tree.kind(path) === undefined) return FAILED;
    tree.chmod(path, parseInt(mode, 8));
  }
  return OK;
}

/** `ln -s[f][n] TARGET LINK`: into LINK when it is a directory, as ln(1) does without -n. */
function ln(tree: StagedTree, args: readonly string[]): HostResult | undefined {
  const flags = args.filter((a) => a.startsWith('-')).join('').replace(/-/g, '');
  const operands = args.filter((a) => !a.startsWith('-'));
  if (!flags.includes('s') || /[^sfnT]/.test(flags) || operands.length !== 2) return undefined;
  const [target, named] = operands as [string, string];
  const noDeref = flags.includes('n') || flags.includes('T');
  const link = !noDeref && tree.kind(named) === 'dir' ? `${named}/${posix.basename(target)}` : named;
  if (tree.kind(link, false) !== undefined && !flags.includes('f')) return FAILED;
  if (tree.kind(link, false) === 'dir') return FAILED;
  tree.symlink(link, target);
  return OK;
}

function lookup(name: string | undefined, find: (name: string) => string | undefined): HostResult {
  const found = name === undefined ? undefined : find(name);
  return found === undefined ? FAILED : { status: 0, output: `${found}\n` };
}

/** dpkg(1)'s queries that scripts make: the architecture, and version comparisons (deb-version(7)). */
function dpkg(args: readonly string[], arch: string): HostResult | undefined {
  if (args[0] === '--print-architecture' && args.length === 1) return { status: 0, output: `${arch}\n` };
  if (args[0] !== '--compare-versions' || args.length !== 4) return undefined;
  const [, a, op, b] = args as [string, string, string, string];
  // An empty version is the oldest (with -nl: the newest), as dpkg treats it.
  const empty = op.endsWith('-nl') ? 1 : -1;
  const order = a === '' && b === '' ? 0 : a === '' ? empty : b === '' ? -empty : compareVersions(a, b);
  const holds: Record<string, boolean> = {
    lt: order < 0, 'lt-nl': order < 0, le: order <= 0, 'le-nl': order <= 0, eq: order === 0, ne: order !== 0,
    ge: order >= 0, 'ge-nl': order >= 0, gt: order > 0, 'gt-nl': order > 0, '<<': order < 0, '<=': order <= 0, '=': order === 0, '>=': order >= 0, '>>': order > 0,
  };
  const result = holds[op];
  return result === undefined ? undefined : result ? OK : FAILED;
}

/**
 * `dpkg-statoverride --list PATH` and `--update --add root root MODE PATH`: the override
 * line dpkg keeps in /var/lib/dpkg/statoverride, and the mode applied. Other owners than
 * root would need the image's user database: not handled.
 */
function statOverride(tree: StagedTree, args: readonly string[], lines: string[]): HostResult | undefined {
  const rest = args.filter((a) => a !== '--quiet' && a !== '--update' && a !== '--force');
  if (rest[0] === '--list' && rest.length === 2) return lines.some((line) => line.endsWith(` ${rest[1]}`)) ? OK : FAILED;
  if (rest[0] !== '--add' || rest.length !== 5) return undefined;
  const [, user, group, mode, path] = rest as [string, string, string, string, string];
  if (user !== 'root' || group !== 'root' || !/^[0-7]{1,5}$/.test(mode)) return undefined;
  lines.push(`${user} ${group} ${parseInt(mode, 8).toString(8)} ${path}`);
  if (args.includes('--update') && tree.kind(path) !== undefined) tree.chmod(path, parseInt(mode, 8));
  return OK;
}

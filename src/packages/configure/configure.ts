/**
 * The static configuration of freshly unpacked packages (`rootfs create --configure
 * static`): what `dpkg --configure` would do, done in TypeScript on the tree, without
 * running anything. Each package's postinst is followed (`postinst configure`, fresh
 * install) by shell-run.ts with the commands of commands.ts, ucf.ts and php.ts and
 * update-alternatives (alternatives.ts) handled; ca-certificates is configured as a whole
 * (ca-certificates.ts). A package whose script ran only handled commands, or that has no
 * postinst, is marked `install ok installed`; the others stay `unpacked`, with the
 * commands that were not done, for the caller to report. The effects of handled commands
 * are made also for packages that stay unpacked (java's links, without its keystore).
 */
import { posix } from 'node:path';
import { InfraError } from '../../errors.js';
import { fieldValue, type DpkgDatabase, type UnpackedDeb } from '../deb/dpkg-db.js';
import type { ReadTreeFile } from '../retained.js';
import type { TreeEditor } from '../../tree/edit.js';
import { Alternatives } from './alternatives.js';
import { CA_CERTIFICATES_PACKAGE, configureCaCertificates, type TrustedCertificate } from './ca-certificates.js';
import { CA_CERTIFICATES_JAVA_PACKAGE, JAVA_CACERTS, javaKeystore } from './java-keystore.js';
import { fileCommands, OK, type CommandHandler } from './commands.js';
import { PHP_MAINTSCRIPT_HELPER, phpCommands } from './php.js';
import { runScript, type HostResult, type ScriptHost } from './shell-run.js';
import { StagedTree } from './staged.js';
import { Ucf } from './ucf.js';
import { CONFIGURE_MODES } from './modes.js';

export { CONFIGURE_MODES, type ConfigureMode } from './modes.js';

/** Files the handlers read back from unpacked packages (member names without `./`), kept as they stream past. */
export const CONFIGURE_FILES_READ = ['usr/share/ca-certificates/', 'usr/lib/php/', 'usr/share/php', 'etc/php/', 'var/lib/ucf/', 'etc/ca-certificates.conf'];

const STATOVERRIDE = '/var/lib/dpkg/statoverride';

/** Packages configured as a whole (their scripts are not followed); triggers they are interested in are theirs. */
const WHOLE_PACKAGES = new Set([CA_CERTIFICATES_PACKAGE, CA_CERTIFICATES_JAVA_PACKAGE]);


/** A package unpacked by this build, in install order. */
interface UnpackedPackage {
  name: string;
  architecture: string;
  controlFiles: ReadonlyMap<string, Buffer>;
}

export interface ConfigureReport {
  /** Packages now `install ok installed`. */
  configured: string[];
  /** Packages left `unpacked`, with what was not done for them. */
  unconfigured: Array<{ package: string; steps: string[] }>;
}

export interface ConfigureOptions {
  editor: TreeEditor;
  /** The kept files of the base and of the unpacked packages (CONFIGURE_FILES_READ). */
  readFile: ReadTreeFile;
  db: DpkgDatabase;
  /** What this build unpacked, in install order. */
  packages: readonly UnpackedDeb[];
  arch: string;
}

/** The mode, checked before anything is pulled; a note for each mode that is not what it says yet. */
export function checkConfigureMode(mode: string): { notes: string[] } {
  if (mode === 'static') return { notes: [] };
  if (mode === 'auto') return { notes: ['the build-time VM pass for what the static handlers leave is not built yet: configuring statically'] };
  if (mode === 'vm') {
    throw new InfraError('USAGE', 'Configuring packages in a VM at build time is not built yet.', { option: 'configure', hint: 'pass {configure} static (or auto)' });
  }
  throw new InfraError('USAGE', `Unknown configure mode '${mode}'. Known: ${CONFIGURE_MODES.join(', ')}.`, { option: 'configure', hint: 'pass one of them to {configure}' });
}

/** What the command tells about packages left unconfigured. */
export function unconfiguredNote(report: ConfigureReport): string | undefined {
  if (report.unconfigured.length === 0) return undefined;
  const names = report.unconfigured.map((entry) => `${entry.package} (${shorten(entry.steps[0]!)}${entry.steps.length > 1 ? `, +${entry.steps.length - 1}` : ''})`);
  const count = report.unconfigured.length === 1 ? '1 package stays' : `${report.unconfigured.length} packages stay`;
  return `${count} unconfigured (dpkg status "unpacked": their maintainer scripts do more than the static handlers): ${names.join('; ')}`;
}

export async function configureStatically(options: ConfigureOptions): Promise<ConfigureReport> {
  const { editor, db, arch } = options;
  const packages = options.packages.map(unpackedPackage);
  const tree = new StagedTree(editor.root, options.readFile);
  const alternatives = new Alternatives(options.readFile);
  const ucf = new Ucf(tree);
  const overrides = (options.readFile(STATOVERRIDE)?.toString('latin1') ?? '').split('\n').filter((line) => line !== '');
  const baseOverrides = overrides.length;
  const triggerInterests = interests(packages, WHOLE_PACKAGES);
  const commands = new Map<string, CommandHandler>([
    ...fileCommands(tree, arch, overrides),
    ...ucf.commands(),
    ...phpCommands(tree),
    ['update-alternatives', (args) => updateAlternatives(alternatives, tree, args)],
    // A trigger no package of the set is interested in runs nothing; those of whole packages are done.
    ['dpkg-trigger', (args) => (args.some((name) => triggerInterests.has(name)) ? undefined : OK)],
  ]);
  const host: ScriptHost = {
    command: ([name, ...args]) => commands.get(name!)?.(args),
    fileTest: (operator, path) => fileTest(tree, operator, path),
    source: (path) => path === PHP_MAINTSCRIPT_HELPER,
    write: (path, text, append) => writeOutput(tree, path, text, append),
    list: (dir) => tree.list(dir),
  };
  const report: ConfigureReport = { configured: [], unconfigured: [] };
  const done = (name: string, steps: string[]) => (steps.length === 0 ? report.configured.push(name) : report.unconfigured.push({ package: name, steps }));
  let trusted: TrustedCertificate[] | undefined;
  for (const pkg of packages) {
    if (pkg.name === CA_CERTIFICATES_PACKAGE) {
      const ca = configureCaCertificates(tree);
      if (ca.unhandled.length === 0) trusted = ca.trusted;
      done(pkg.name, ca.unhandled);
    } else if (pkg.name !== CA_CERTIFICATES_JAVA_PACKAGE) done(pkg.name, followPostinst(pkg, host));
  }
  // ca-certificates-java builds the keystore once a JRE is there (its trigger, after the JRE's postinst).
  if (packages.some((pkg) => pkg.name === CA_CERTIFICATES_JAVA_PACKAGE)) {
    const java = alternatives.has('java') || tree.kind('/usr/bin/java') === 'file';
    if (trusted !== undefined && java) tree.writeFile(JAVA_CACERTS, javaKeystore(trusted, editor.time.sec * 1000), 0o644);
    done(CA_CERTIFICATES_JAVA_PACKAGE, trusted === undefined ? ['(the CA certificates were not configured here)'] : []);
  }
  ucf.stage();
  if (overrides.length > baseOverrides) tree.writeFile(STATOVERRIDE, Buffer.from(overrides.map((line) => `${line}\n`).join(''), 'latin1'), 0o644);
  await tree.apply(editor);
  await alternatives.write(editor);
  for (const name of report.configured) db.markInstalled(name);
  return report;
}

function shorten(step: string): string {
  return step.length > 60 ? `${step.slice(0, 57)}...` : step;
}

function unpackedPackage(deb: UnpackedDeb): UnpackedPackage {
  return { name: fieldValue(deb.control, 'Package') ?? '', architecture: fieldValue(deb.control, 'Architecture') ?? 'all', controlFiles: deb.controlFiles };
}

/** Runs `postinst configure` (a fresh install: no previous version); the steps not done. */
function followPostinst(pkg: UnpackedPackage, host: ScriptHost): string[] {
  const script = pkg.controlFiles.get('postinst');
  if (script === undefined) return [];
  const env = {
    DPKG_MAINTSCRIPT_NAME: 'postinst',
    DPKG_MAINTSCRIPT_PACKAGE: pkg.name,
    DPKG_MAINTSCRIPT_ARCH: pkg.architecture,
    DPKG_ADMINDIR: '/var/lib/dpkg',
    DPKG_ROOT: '',
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  };
  const run = runScript(script.toString('latin1'), ['configure', ''], env, host, `the postinst of ${pkg.name}`);
  return run.status === 0 ? run.unhandled : [...run.unhandled, `(the script exits with status ${run.status})`];
}

function updateAlternatives(alternatives: Alternatives, tree: StagedTree, args: readonly string[]): HostResult | undefined {
  if (args[0] === '--list' && args.length === 2) return alternatives.has(args[1]!) ? undefined : { status: 2, output: '' };
  const call = Alternatives.parseInstall(args);
  if (call === undefined) return undefined;
  // update-alternatives refuses a choice whose file is missing.
  if (tree.kind(call.path) === undefined) return undefined;
  return alternatives.install(call) ? OK : undefined;
}

/** Trigger names some package of the set, other than `handled`, has an interest in (deb-triggers(5)). */
function interests(packages: readonly UnpackedPackage[], handled: ReadonlySet<string>): Set<string> {
  const names = new Set<string>();
  for (const pkg of packages) {
    if (handled.has(pkg.name)) continue;
    for (const line of (pkg.controlFiles.get('triggers')?.toString('latin1') ?? '').split('\n')) {
      const [directive, name] = line.trim().split(/\s+/);
      if (name !== undefined && directive?.startsWith('interest')) names.add(name);
    }
  }
  return names;
}

/** A command's output into a file (`> FILE`, `>> FILE`), as the shell creates it (umask 022). */
function writeOutput(tree: StagedTree, path: string, text: string, append: boolean): boolean {
  if (tree.kind(posix.dirname(path)) !== 'dir') return false;
  const kind = tree.kind(path);
  const existing = append && kind !== undefined ? tree.read(path) : Buffer.alloc(0);
  if ((kind !== undefined && kind !== 'file') || existing === undefined) return false;
  tree.writeFile(path, Buffer.concat([existing, Buffer.from(text, 'latin1')]), kind === 'file' ? (tree.mode(path) ?? 0o644) & 0o7777 : 0o644);
  return true;
}

function fileTest(tree: StagedTree, operator: string, path: string): boolean {
  if (path === '') return false;
  const kind = tree.kind(path, operator !== '-h' && operator !== '-L');
  switch (operator) {
    case '-e':
    case '-r':
    case '-w':
      return kind !== undefined;
    case '-f':
      return kind === 'file';
    case '-d':
      return kind === 'dir';
    case '-h':
    case '-L':
      return kind === 'symlink';
    case '-x':
      return kind === 'dir' || (kind === 'file' && ((tree.mode(path) ?? 0) & 0o111) !== 0);
    case '-s':
      return kind === 'file' && (tree.read(path)?.length ?? 1) > 0;
    default:
      return false;
  }
}

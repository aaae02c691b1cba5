/**
 * Choosing the packages to install, as apk-tools' solver does for a fresh `apk add` (its
 * src/solver.c, simplified to one pass without backtracking): for each dependency, a
 * package of that name, else a provider (`p:`; a versioned dependency needs a versioned
 * provide), preferring what is installed or already chosen, then the highest
 * `provider_priority`, then the newest version; `!conflicts` are checked against the whole
 * choice; packages whose `install_if` atoms are all satisfied join it (repeatedly). An
 * unsatisfiable dependency is reported with the chain that led to it.
 */
import { InfraError, printable } from '../../errors.js';
import { formatDependency, parseAtom, type ApkDependency } from './relations.js';
import type { ApkEntry } from './types.js';
import { compareApkVersions, satisfiesApkVersion } from './version.js';

/** A chain longer than this, or a choice larger, happens only with a hostile index. */
const MAX_DEPTH = 500;
const MAX_SELECTED = 10_000;

export class ApkUniverse {
  /** Name or provided name → packages offering it, with the version they offer it at. */
  private readonly offers = new Map<string, Array<{ entry: ApkEntry; version?: string; real: boolean }>>();

  /** `installed` (the base's database) win over repository packages of the same name. */
  constructor(available: readonly ApkEntry[], readonly installed: readonly ApkEntry[]) {
    for (const entry of [...installed, ...available]) {
      this.offer(entry.name, { entry, version: entry.version, real: true });
      for (const provide of entry.provides) this.offer(provide.name, { entry, ...(provide.version !== undefined ? { version: provide.version } : {}), real: false });
    }
  }

  private offer(name: string, offer: { entry: ApkEntry; version?: string; real: boolean }): void {
    let list = this.offers.get(name);
    if (list === undefined) this.offers.set(name, (list = []));
    list.push(offer);
  }

  /** The packages that satisfy `dependency` (ignoring its `!`). */
  candidates(dependency: ApkDependency): ApkEntry[] {
    return (this.offers.get(dependency.name) ?? [])
      .filter((offer) => satisfies(offer.version, dependency))
      .map((offer) => offer.entry);
  }

  /** The newest version of each name with an `install_if`. */
  installIfCandidates(): ApkEntry[] {
    const newest = new Map<string, ApkEntry>();
    for (const list of this.offers.values()) {
      for (const { entry, real } of list) {
        if (!real || entry.installIf.length === 0) continue;
        const known = newest.get(entry.name);
        if (known === undefined || compareApkVersions(entry.version, known.version) > 0) newest.set(entry.name, entry);
      }
    }
    return [...newest.values()];
  }
}

function satisfies(version: string | undefined, dependency: ApkDependency): boolean {
  if (dependency.version === undefined) return true;
  // An unversioned provide satisfies only unversioned dependencies (apk-tools' rule).
  if (version === undefined) return false;
  return satisfiesApkVersion(version, dependency.version.op, dependency.version.version);
}

/**
 * The packages to install for `requested` (dependency atoms, e.g. `python3`, `so:libz.so.1`,
 * `busybox>=1.36`), dependencies first; installed packages that satisfy a need are kept
 * and not listed.
 */
export function chooseApks(universe: ApkUniverse, requested: readonly string[] | readonly ApkDependency[]): ApkEntry[] {
  const solver = new Solver(universe);
  for (const atom of requested) solver.need(typeof atom === 'string' ? requestedAtom(atom) : atom, []);
  solver.addInstallIf();
  solver.checkConflicts();
  return solver.order.filter((entry) => !universe.installed.includes(entry));
}

function requestedAtom(atom: string): ApkDependency {
  const dependency = parseAtom(atom);
  if (dependency === undefined || dependency.conflict) {
    throw new InfraError('USAGE', `"${printable(atom)}" is not a package name or apk dependency (NAME, NAME>=VERSION, so:LIB, cmd:COMMAND)`, { option: 'packages' });
  }
  return dependency;
}

class Solver {
  /** Chosen packages by name, installed ones included. */
  private readonly chosen = new Map<string, ApkEntry>();
  /** Chosen packages, each after its dependencies. */
  readonly order: ApkEntry[] = [];

  constructor(private readonly universe: ApkUniverse) {
    for (const entry of universe.installed) this.chosen.set(entry.name, entry);
  }

  need(dependency: ApkDependency, chain: readonly string[]): void {
    if (dependency.conflict) return;
    if (chain.length > MAX_DEPTH) throw unsatisfiable([...chain, formatDependency(dependency)], 'the dependency chain is too long');
    const candidates = this.universe.candidates(dependency);
    const satisfied = candidates.find((entry) => this.chosen.get(entry.name) === entry);
    if (satisfied !== undefined) return;
    const open = candidates.filter((entry) => !this.chosen.has(entry.name));
    if (open.length === 0) {
      const taken = candidates.find((entry) => this.chosen.has(entry.name));
      const why = taken ? `it needs ${taken.name} ${taken.version}, but ${taken.name} ${this.chosen.get(taken.name)!.version} is chosen or installed` : 'no package provides it';
      throw unsatisfiable([...chain, formatDependency(dependency)], why);
    }
    this.choose(best(open, dependency.name), [...chain, formatDependency(dependency)]);
  }

  private choose(entry: ApkEntry, chain: readonly string[]): void {
    this.chosen.set(entry.name, entry);
    if (this.chosen.size > MAX_SELECTED) throw unsatisfiable(chain, `more than ${MAX_SELECTED} packages would be installed`);
    // `app` → `app-2.0-r3`; a provided name stays, followed by its provider.
    const named = chain.length > 0 && chain[chain.length - 1] === entry.name;
    const here = [...(named ? chain.slice(0, -1) : chain), `${entry.name}-${entry.version}`];
    for (const dependency of entry.depends) this.need(dependency, here);
    this.order.push(entry);
  }

  /** Adds packages whose install_if is satisfied by the choice, until none is. */
  addInstallIf(): void {
    for (let added = true; added; ) {
      added = false;
      for (const entry of this.universe.installIfCandidates()) {
        if (this.chosen.has(entry.name) || !entry.installIf.every((atom) => this.holds(atom))) continue;
        this.choose(entry, [`${entry.name}-${entry.version} (install_if ${entry.installIf.map(formatDependency).join(' ')})`]);
        added = true;
      }
    }
  }

  /** Whether the choice satisfies `atom` (for `!name`: has nothing matching it). */
  private holds(atom: ApkDependency): boolean {
    const present = this.universe.candidates(atom).some((entry) => this.chosen.get(entry.name) === entry);
    return atom.conflict ? !present : present;
  }

  checkConflicts(): void {
    for (const entry of this.chosen.values()) {
      for (const atom of entry.depends.filter((d) => d.conflict)) {
        const clash = this.universe.candidates(atom).find((other) => this.chosen.get(other.name) === other && other.name !== entry.name);
        if (clash !== undefined) {
          throw new InfraError('PACKAGE', `${entry.name} ${entry.version} conflicts with ${clash.name} ${clash.version} (${formatDependency(atom)}), and both would be installed; leave one of them out`);
        }
      }
    }
  }
}

/** A real package of the name first; then the highest provider_priority, the newest version, the name. */
function best(candidates: readonly ApkEntry[], name: string): ApkEntry {
  return [...candidates].sort(
    (a, b) =>
      Number(b.name === name) - Number(a.name === name) ||
      b.providerPriority - a.providerPriority ||
      compareApkVersions(b.version, a.version) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  )[0]!;
}

function unsatisfiable(chain: readonly string[], why: string): InfraError {
  return new InfraError('PACKAGE', `cannot install ${chain.map((link) => printable(link)).join(' → ')}: ${why}; check the package names and the repositories (/etc/apk/repositories)`);
}

/**
 * Choosing the packages to install (Debian Policy §7: Depends, Pre-Depends, alternatives,
 * versioned Provides, Conflicts, Breaks; Multi-Arch `:any` and foreign) the way
 * `apt-get install --no-install-recommends` does for a fresh request: what the base has
 * installed counts, each name's candidate is its highest version, the first installable
 * alternative wins, and an installed package is upgraded when it is asked for, when a
 * dependency needs a newer version, or when a new package breaks its version. There is
 * no backtracking past one alternative and nothing is removed: a conflict with the base
 * that no upgrade clears is an error. See docs/packages.md.
 */
import { InfraError } from '../../errors.js';
import { HttpClient } from '../../image/registry/http.js';
import type { DirInode } from '../../tree/tree.js';
import { debExpected, downloadDebs } from './download.js';
import { formatRef, type Alternatives, type PackageRef } from './relations.js';
import { readPackages, readRelease, type Offer } from './release.js';
import { readSources, type BaseFiles } from './sources.js';
import type { ResolvedDeb } from './types.js';
import { Universe, installedPackages, type Pkg } from './universe.js';
import { compareVersions, satisfiesVersion } from './version.js';

export type ResolveEvent =
  | { kind: 'repository'; uri: string; suite: string; packages: number }
  | { kind: 'resolved'; packages: number; bytes: number }
  | { kind: 'downloaded'; deb: ResolvedDeb; bytes: number };

export interface ResolveDebsOptions {
  /** The base image's tree: sources, keyrings and the dpkg status are read from it. */
  tree: DirInode;
  /** Reads a regular file of `tree` by absolute path (the bytes the base image holds). */
  readFile: BaseFiles['readFile'];
  /** One-line `deb URI SUITE COMPONENT...` forms; when given, they replace the base's sources. */
  sources?: readonly string[];
  packages: readonly Requested[];
  arch: string;
  /** Where verified `.deb` files are kept, by digest (the blob cache layout). */
  cacheDir: string;
  progress?: (event: ResolveEvent) => void;
  /** The time signatures, keys and Valid-Until are judged at (default: now). */
  now?: Date;
  http?: HttpClient;
}

/**
 * A package asked for: a name, or names tried in order, the first one the repositories
 * (or the base) have being installed (`numpy`, else `python3-numpy`).
 */
export type Requested = string | readonly string[];

/** A request or dependency chain is longer than this only in a hostile index. */
const MAX_DEPTH = 500;
const MAX_SELECTED = 5_000;

/**
 * Reads the base's sources through their signed indexes, resolves `packages` against them
 * and the base's dpkg status, and downloads the new packages' verified `.deb` files.
 * Returns them in install order: each after what it (pre-)depends on, where no cycle
 * forbids it.
 */
export async function resolveDebs(options: ResolveDebsOptions): Promise<ResolvedDeb[]> {
  return withClient(options, async (http) => {
    const downloads = await chooseDebs({ ...options, http });
    const bytes = downloads.reduce((sum, d) => sum + debExpected(d.stanza).size, 0);
    options.progress?.({ kind: 'resolved', packages: downloads.length, bytes });
    return downloadDebs(http, options.cacheDir, downloads, (deb, size) => options.progress?.({ kind: 'downloaded', deb, bytes: size }));
  });
}

/** What resolveDebs would download, in install order, without downloading it. */
export async function chooseDebs(options: Omit<ResolveDebsOptions, 'cacheDir'>): Promise<Offer[]> {
  return withClient(options, async (http) => {
    const now = (options.now ?? new Date()).getTime() / 1000;
    const offers: Offer[] = [];
    for (const source of readSources({ root: options.tree, readFile: options.readFile }, options.sources)) {
      const release = await readRelease(http, source, now);
      const found = await readPackages(http, source, release, options.arch);
      options.progress?.({ kind: 'repository', uri: source.uri, suite: source.suite, packages: found.length });
      offers.push(...found);
    }
    const status = options.readFile('/var/lib/dpkg/status')?.toString('latin1');
    return resolve(new Universe(offers, options.arch), installedPackages(status, options.arch), options.packages, options.arch).map((p) => p.offer!);
  });
}

/** Runs `work` with the caller's HTTP client, or a new one closed afterwards. */
async function withClient<T>(options: { http?: HttpClient }, work: (http: HttpClient) => Promise<T>): Promise<T> {
  const http = options.http ?? new HttpClient();
  try {
    return await work(http);
  } finally {
    if (!options.http) await http.close();
  }
}

/** The packages to install for `requested`, new or upgraded, in install order. */
export function resolve(universe: Universe, installed: ReadonlyMap<string, Pkg>, requested: readonly Requested[], arch: string): Pkg[] {
  const resolver = new Resolver(universe, installed, arch);
  for (const names of requested) resolver.request(typeof names === 'string' ? [names] : names);
  return resolver.installOrder();
}

interface Clash {
  other: Pkg;
  text: string;
}

class Resolver {
  /** Name → the package that will be there: installed, or chosen here. */
  private readonly present = new Map<string, Pkg>();
  /** Virtual name → present packages providing it. */
  private readonly provided = new Map<string, Set<Pkg>>();
  /** Chosen here (new or upgrades), in the order chosen. */
  private readonly chosen: Pkg[] = [];

  constructor(
    private readonly universe: Universe,
    installed: ReadonlyMap<string, Pkg>,
    private readonly arch: string,
  ) {
    for (const pkg of installed.values()) this.add(pkg);
  }

  /**
   * The first of `names` the repositories or the base have is installed, or upgraded to its
   * candidate, as `apt-get install NAME` does.
   */
  request(names: readonly string[]): void {
    const known = (name: string) => this.candidatesFor({ name }).length > 0 || this.satisfier({ name }) !== undefined;
    const ref: PackageRef = { name: names.find(known) ?? names[0]! };
    const candidate = this.candidatesFor(ref)[0];
    const present = this.satisfier(ref);
    if (present && (!candidate || present.name !== candidate.name || compareVersions(present.version, candidate.version) >= 0)) return;
    if (!candidate) {
      const near = [...new Set(names.flatMap((name) => this.universe.nearest(name)))].slice(0, 3);
      const named = names.map((name) => `"${name}"`).join(' or ');
      throw new InfraError('NOT_FOUND', `no package named ${named} in the repositories${near.length ? ` (nearest: ${near.join(', ')})` : ''}; check the name`, { option: 'packages' });
    }
    const clash = this.clearClashes(candidate, []);
    if (clash) throw unsatisfiable([`${candidate.name} (${candidate.version})`], clash);
    this.select(candidate, []);
  }

  /** Adds `pkg`, which conflicts with nothing present, and what it needs. */
  private select(pkg: Pkg, chain: readonly string[]): void {
    if (chain.length > MAX_DEPTH || this.chosen.length >= MAX_SELECTED) {
      throw new InfraError('INPUT', `the dependencies of ${chain[0] ?? pkg.name} go deeper than ${MAX_DEPTH} levels or beyond ${MAX_SELECTED} packages; the repository index is hostile or broken`);
    }
    const replaced = this.present.get(pkg.name);
    if (replaced) this.remove(replaced);
    this.add(pkg);
    this.chosen.push(pkg);
    const path = [...chain, `${pkg.name} (${pkg.version})`];
    for (const requirement of [...pkg.preDepends, ...pkg.depends]) this.require(requirement, path);
    if (replaced) this.recheckDependents(pkg.name);
  }

  /**
   * An upgrade may leave packages that depended on the old version unsatisfied: each is
   * upgraded too where its candidate is newer (as apt does), else its need is met again.
   */
  private recheckDependents(name: string): void {
    for (const other of [...this.present.values()]) {
      if (this.present.get(other.name) !== other) continue; // upgraded meanwhile
      const broken = [...other.preDepends, ...other.depends].filter((r) => r.some((ref) => ref.name === name) && !r.some((ref) => this.satisfier(ref)));
      if (broken.length === 0) continue;
      const upgrade = this.upgradeOf(other);
      const chain = [`${other.name} (${other.version})`];
      if (upgrade && !this.clearClashes(upgrade, chain)) this.select(upgrade, chain);
      else for (const requirement of broken) this.require(requirement, chain);
    }
  }

  /** Satisfies one comma-separated requirement, choosing the first installable alternative. */
  private require(alternatives: Alternatives, chain: readonly string[]): void {
    if (alternatives.some((ref) => this.satisfier(ref))) return;
    const reasons: string[] = [];
    for (const ref of alternatives) {
      const candidates = this.candidatesFor(ref);
      if (candidates.length === 0) reasons.push(`${formatRef(ref)}: ${this.whyNone(ref)}`);
      for (const candidate of candidates) {
        const clash = this.clearClashes(candidate, chain);
        if (clash) {
          reasons.push(`${formatRef(ref)}: ${candidate.name} ${clash}`);
          continue;
        }
        this.select(candidate, chain);
        return;
      }
    }
    throw unsatisfiable(chain, `needs ${alternatives.map(formatRef).join(' | ')}, but ${reasons.join('; ')}`);
  }

  /** Offered packages that would satisfy `ref`: the named package's candidate, then providers. */
  private candidatesFor(ref: PackageRef): Pkg[] {
    const real = this.universe.candidates.get(ref.name);
    const providers = this.universe.providers.get(ref.name) ?? [];
    return [real, ...providers].filter((p): p is Pkg => p !== undefined && this.satisfies(p, ref));
  }

  private whyNone(ref: PackageRef): string {
    const real = this.universe.candidates.get(ref.name);
    if (real) return `the repositories have version ${real.version}${ref.archQualifier === 'any' && real.multiArch !== 'allowed' ? ', not Multi-Arch: allowed' : ''}`;
    return 'no package of that name or providing it is in the repositories';
  }

  /** A present package satisfying `ref`, if any. */
  private satisfier(ref: PackageRef): Pkg | undefined {
    const real = this.present.get(ref.name);
    if (real && this.satisfies(real, ref)) return real;
    for (const p of this.provided.get(ref.name) ?? []) if (this.satisfies(p, ref)) return p;
    return undefined;
  }

  /** Does `pkg` satisfy `ref`, by name or by one of its Provides? (Policy §7.5; Multi-Arch spec.) */
  private satisfies(pkg: Pkg, ref: PackageRef): boolean {
    if (!this.archFits(pkg, ref)) return false;
    if (pkg.name === ref.name) return !ref.op || satisfiesVersion(pkg.version, ref.op, ref.version!);
    return pkg.provides.some((p) => p.name === ref.name && (!ref.op || (p.op === '=' && satisfiesVersion(p.version!, ref.op, ref.version!))));
  }

  /** `:any` needs Multi-Arch: allowed; a foreign package satisfies only as Multi-Arch: foreign. */
  private archFits(pkg: Pkg, ref: PackageRef): boolean {
    if (ref.archQualifier === 'any') return pkg.multiArch === 'allowed';
    if (ref.archQualifier !== undefined && ref.archQualifier !== 'native' && ref.archQualifier !== this.arch) return false;
    const native = pkg.architecture === this.arch || pkg.architecture === 'all';
    return native || (ref.archQualifier === undefined && pkg.multiArch === 'foreign');
  }

  /** The first present package `pkg` cannot join (Conflicts or Breaks either way), and why. */
  private conflictWith(pkg: Pkg): Clash | undefined {
    for (const other of this.present.values()) {
      if (other.name === pkg.name) continue;
      const mine = pkg.conflicts.find((ref) => this.hits(ref, other));
      if (mine) return { other, text: `conflicts with ${other.name} (${other.version}) (it declares ${formatRef(mine)})` };
      const theirs = other.conflicts.find((ref) => this.hits(ref, pkg));
      if (theirs) return { other, text: `conflicts with ${other.name} (${other.version}) (which declares ${formatRef(theirs)})` };
    }
    return undefined;
  }

  /**
   * Clears `pkg`'s clashes with packages of the base by upgrading them to their
   * candidates, as apt does; returns the clash that remains, if any.
   */
  private clearClashes(pkg: Pkg, chain: readonly string[]): string | undefined {
    for (let clash = this.conflictWith(pkg); clash; clash = this.conflictWith(pkg)) {
      const upgrade = this.upgradeOf(clash.other);
      if (!upgrade || this.clashes(pkg, upgrade) || this.conflictWith(upgrade)) return clash.text;
      this.select(upgrade, [...chain, `${pkg.name} (${pkg.version}) upgrades ${clash.other.name}`]);
    }
    return undefined;
  }

  /** The newer candidate of a base package not yet replaced here, if any. */
  private upgradeOf(installed: Pkg): Pkg | undefined {
    const candidate = this.universe.candidates.get(installed.name);
    if (!candidate || installed.offer || compareVersions(candidate.version, installed.version) <= 0) return undefined;
    return candidate;
  }

  private clashes(a: Pkg, b: Pkg): boolean {
    return a.conflicts.some((ref) => this.hits(ref, b)) || b.conflicts.some((ref) => this.hits(ref, a));
  }

  private hits(ref: PackageRef, pkg: Pkg): boolean {
    return this.satisfies(pkg, { name: ref.name, ...(ref.op ? { op: ref.op, version: ref.version! } : {}) });
  }

  private add(pkg: Pkg): void {
    this.present.set(pkg.name, pkg);
    for (const p of pkg.provides) {
      const set = this.provided.get(p.name) ?? new Set();
      set.add(pkg);
      this.provided.set(p.name, set);
    }
  }

  private remove(pkg: Pkg): void {
    this.present.delete(pkg.name);
    for (const p of pkg.provides) this.provided.get(p.name)?.delete(pkg);
  }

  /** Chosen packages, each after the chosen packages it pre-depends and depends on. */
  installOrder(): Pkg[] {
    const chosen = new Set(this.chosen.filter((p) => this.present.get(p.name) === p));
    const order: Pkg[] = [];
    const state = new Map<Pkg, 'visiting' | 'done'>();
    const visit = (pkg: Pkg): void => {
      if (state.has(pkg)) return; // done, or a dependency cycle: dpkg configures cycles together
      state.set(pkg, 'visiting');
      for (const requirement of [...pkg.preDepends, ...pkg.depends]) {
        const dep = requirement.map((ref) => this.satisfier(ref)).find((p) => p !== undefined);
        if (dep && chosen.has(dep)) visit(dep);
      }
      state.set(pkg, 'done');
      order.push(pkg);
    };
    for (const pkg of chosen) visit(pkg);
    return order;
  }
}

function unsatisfiable(chain: readonly string[], problem: string): InfraError {
  return new InfraError('NOT_FOUND', `cannot install ${chain.join(' → ')}: ${problem}; choose other packages or add a repository that has them`, { option: 'packages' });
}

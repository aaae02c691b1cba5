/**
 * The packages resolution chooses among: what the repositories offer (the highest version
 * of each name is its candidate, as apt's default policy) and what the base's dpkg status
 * says is installed, each with its relationship fields parsed once.
 */
import { field, parseParagraphs, toStanza } from './deb822.js';
import { parseRelations, parseRef, type Alternatives, type PackageRef } from './relations.js';
import type { Offer } from './release.js';
import type { DebStanza } from './types.js';
import { compareVersions } from './version.js';

export interface Pkg {
  name: string;
  version: string;
  architecture: string;
  /** `same`, `foreign`, `allowed` or `no` (Multi-Arch spec). */
  multiArch: string;
  preDepends: Alternatives[];
  depends: Alternatives[];
  /** Conflicts and Breaks: neither may be satisfied by another package in the result. */
  conflicts: PackageRef[];
  provides: PackageRef[];
  /** Where to download it; undefined for what the base has installed. */
  offer?: Offer;
}

function toPkg(stanza: DebStanza, offer?: Offer): Pkg {
  const what = `${stanza.package} ${stanza.version}`;
  const flat = (name: string): PackageRef[] => parseRelations(field(stanza.fields, name), what).flat();
  return {
    name: stanza.package,
    version: stanza.version,
    architecture: stanza.architecture,
    multiArch: field(stanza.fields, 'Multi-Arch') ?? 'no',
    preDepends: parseRelations(field(stanza.fields, 'Pre-Depends'), what),
    depends: parseRelations(field(stanza.fields, 'Depends'), what),
    conflicts: [...flat('Conflicts'), ...flat('Breaks')],
    provides: (field(stanza.fields, 'Provides') ?? '').split(',').filter((p) => p.trim() !== '').map((p) => parseRef(p, what)),
    ...(offer ? { offer } : {}),
  };
}

/** dpkg states whose package has its files on disk (dpkg(1) "Package states"). */
const PRESENT_STATES = new Set(['installed', 'unpacked', 'half-configured', 'triggers-awaited', 'triggers-pending', 'half-installed']);

/** The packages of a dpkg status file that are on disk, by name (native and `all` only). */
export function installedPackages(status: string | undefined, arch: string): Map<string, Pkg> {
  const installed = new Map<string, Pkg>();
  if (status === undefined) return installed;
  for (const p of parseParagraphs(status, '/var/lib/dpkg/status')) {
    const state = (field(p, 'Status') ?? '').split(/\s+/)[2];
    if (!state || !PRESENT_STATES.has(state)) continue;
    const pkg = toPkg(toStanza(p, '/var/lib/dpkg/status'));
    // Foreign-architecture packages neither satisfy native dependencies (unless
    // Multi-Arch: foreign) nor get upgraded here; they are kept for conflict checks.
    if (pkg.architecture === arch || pkg.architecture === 'all' || !installed.has(pkg.name)) installed.set(pkg.name, pkg);
  }
  return installed;
}

export class Universe {
  /** Name → the highest version offered (apt's candidate). */
  readonly candidates = new Map<string, Pkg>();
  /** Virtual name → candidates providing it, in index order. */
  readonly providers = new Map<string, Pkg[]>();

  constructor(offers: readonly Offer[], arch: string) {
    for (const offer of offers) {
      const { stanza } = offer;
      if (stanza.architecture !== arch && stanza.architecture !== 'all') continue;
      const known = this.candidates.get(stanza.package);
      if (known && compareVersions(known.version, stanza.version) >= 0) continue;
      this.candidates.set(stanza.package, toPkg(stanza, offer));
    }
    for (const pkg of this.candidates.values()) {
      for (const provided of pkg.provides) {
        const list = this.providers.get(provided.name) ?? [];
        list.push(pkg);
        this.providers.set(provided.name, list);
      }
    }
  }

  /** Up to `count` known names most like `typed` (bigram similarity), for "did you mean". */
  nearest(typed: string, count = 3): string[] {
    const grams = bigrams(typed);
    return [...this.candidates.keys(), ...this.providers.keys()]
      .map((name) => ({ name, score: dice(grams, bigrams(name)) }))
      .filter((s) => s.score >= 0.5)
      .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
      .slice(0, count)
      .map((s) => s.name);
  }
}

function bigrams(text: string): Map<string, number> {
  const grams = new Map<string, number>();
  for (let i = 0; i + 1 < text.length; i++) grams.set(text.slice(i, i + 2), (grams.get(text.slice(i, i + 2)) ?? 0) + 1);
  return grams;
}

/** Sørensen–Dice coefficient of two bigram multisets: 1 for the same name, 0 for nothing shared. */
function dice(a: Map<string, number>, b: Map<string, number>): number {
  let shared = 0;
  let total = 0;
  for (const [gram, n] of a) {
    shared += Math.min(n, b.get(gram) ?? 0);
    total += n;
  }
  for (const n of b.values()) total += n;
  return total === 0 ? 0 : (2 * shared) / total;
}

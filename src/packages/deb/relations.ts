/**
 * Relationship fields (Debian Policy §7.1, §7.5): `Depends: a (>= 1) | b:any, c`, and
 * `Provides: name (= version)`. Architecture restrictions `[...]` and build profiles
 * `<...>` belong to source packages and are refused in binary ones.
 */
import { InfraError } from '../../errors.js';
import type { Relation } from './version.js';

export interface PackageRef {
  name: string;
  /** `:any`, `:native` or an architecture after the name (Multi-Arch spec, §"Dependencies"). */
  archQualifier?: string;
  op?: Relation;
  version?: string;
}

/** One comma-separated element: alternatives in the order given. */
export type Alternatives = PackageRef[];

const REF = /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^\s)]+)\s*\))?$/;

/** The obsolete `<` and `>` mean `<=` and `>=` (Policy §7.1). */
const OBSOLETE: Record<string, Relation> = { '<': '<=', '>': '>=' };

export function parseRef(text: string, what: string): PackageRef {
  const m = REF.exec(text.trim());
  if (!m) throw new InfraError('INPUT', `${what}: "${text.trim().slice(0, 80)}" is not a package relation; the repository index is damaged`);
  const op = m[3] === undefined ? undefined : (OBSOLETE[m[3]] ?? (m[3] as Relation));
  return { name: m[1]!, ...(m[2] ? { archQualifier: m[2] } : {}), ...(op ? { op, version: m[4]! } : {}) };
}

/** A Depends-like field: `,` separates requirements, `|` alternatives. */
export function parseRelations(value: string | undefined, what: string): Alternatives[] {
  if (value === undefined || value.trim() === '') return [];
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => part.split('|').map((alt) => parseRef(alt, what)));
}

/** Renders a relation as the index writes it, for messages. */
export function formatRef(ref: PackageRef): string {
  const qualified = ref.archQualifier ? `${ref.name}:${ref.archQualifier}` : ref.name;
  return ref.op ? `${qualified} (${ref.op} ${ref.version})` : qualified;
}

/**
 * Debian version numbers, `[epoch:]upstream_version[-debian_revision]`, and their order
 * (Debian Policy §5.6.12, dpkg's lib/dpkg/version.c): epochs numerically, then upstream
 * and revision by alternating non-digit runs (letters before non-letters, `~` before
 * everything, even the end) and digit runs compared numerically.
 */
import { InfraError } from '../../errors.js';

export interface DebVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** The last hyphen starts the revision; the upstream part may then hold hyphens too. */
const VERSION = /^(?:(\d+):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$/;

export function parseVersion(text: string): DebVersion {
  const m = VERSION.exec(text.trim());
  // A colon in the upstream version is allowed only after an epoch (dpkg's parseversion).
  if (!m || (m[1] === undefined && m[2]!.includes(':'))) throw badVersion(text);
  const epoch = m[1] === undefined ? 0 : Number(m[1]);
  if (!Number.isSafeInteger(epoch)) throw badVersion(text);
  return { epoch, upstream: m[2]!, revision: m[3] ?? '' };
}

function badVersion(text: string): InfraError {
  return new InfraError('INPUT', `"${text.slice(0, 80)}" is not a Debian version number; the repository index or the dpkg status is damaged`);
}

/** The weight of one character in a non-digit run: `~` lowest, then the end, letters, others. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** dpkg's verrevcmp: the comparison of one upstream version or revision. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(isDigit(a[i]) ? undefined : a[i]);
      const bc = order(isDigit(b[j]) ? undefined : b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Negative, zero or positive as `a` sorts before, with or after `b`. */
export function compareVersions(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (va.epoch !== vb.epoch) return va.epoch - vb.epoch;
  return compareFragment(va.upstream, vb.upstream) || compareFragment(va.revision, vb.revision);
}

/** Version relations of Depends and friends (Policy §7.1); `<` and `>` are the obsolete forms of `<=` and `>=`. */
export type Relation = '<<' | '<=' | '=' | '>=' | '>>';

export function satisfiesVersion(version: string, op: Relation, wanted: string): boolean {
  const c = compareVersions(version, wanted);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}

/**
 * Alpine package versions and their order, as apk-tools compares them (its
 * src/version.c; the grammar of Alpine's APKBUILD(5) `pkgver`-`pkgrel`):
 * `digits{.digits}[letter]{_suffix[digits]}[-rN]`. Versions are read token by token; at
 * the first difference the values decide, and where one version goes on and the other
 * ends, the longer is newer unless it goes on with a pre-release suffix.
 */

/** Token kinds, in apk-tools' order: a later kind at the same place sorts older. */
const enum Kind {
  Invalid = -1,
  DigitOrZero,
  Digit,
  Letter,
  Suffix,
  SuffixNumber,
  Revision,
  End,
}

/** Pre-release suffixes sort before the plain version, in this order. */
const PRE_SUFFIXES = ['alpha', 'beta', 'pre', 'rc'];
/** Post-release suffixes sort after it, in this order. */
const POST_SUFFIXES = ['cvs', 'svn', 'git', 'hg', 'p'];

/** A cursor over one version string. */
class Tokens {
  private at = 0;
  /** The kind of the token `next()` returns. */
  kind: Kind = Kind.Digit;

  constructor(private readonly text: string) {
    if (text === '') this.kind = Kind.Invalid;
  }

  /** The current token's value; moves `kind` on to the one after it. */
  next(): number {
    const value = this.value();
    if (this.kind === Kind.Invalid) return -1;
    this.kind = this.followingKind();
    return value;
  }

  private value(): number {
    const start = this.at;
    switch (this.kind) {
      case Kind.DigitOrZero:
        // A component with leading zeros compares as a fraction: fewer zeros sort newer.
        if (this.text[this.at] === '0') {
          while (this.text[this.at] === '0') this.at++;
          this.afterZeros = true;
          return -(this.at - start);
        }
        return this.number();
      case Kind.Digit:
      case Kind.SuffixNumber:
      case Kind.Revision:
        return this.number();
      case Kind.Letter:
        return this.text.charCodeAt(this.at++);
      case Kind.Suffix:
        return this.suffix();
      default:
        this.kind = Kind.Invalid;
        return -1;
    }
  }

  /** Leading zeros are a token of their own; a digit token (maybe empty, 0) follows them. */
  private afterZeros = false;

  /** Digits as a number; none is 0, as in apk-tools. */
  private number(): number {
    const start = this.at;
    while (isDigit(this.text[this.at])) this.at++;
    return this.at === start ? 0 : Number(this.text.slice(start, this.at));
  }

  private suffix(): number {
    const rest = this.text.slice(this.at);
    const pre = PRE_SUFFIXES.findIndex((name) => rest.startsWith(name));
    if (pre >= 0) {
      this.at += PRE_SUFFIXES[pre]!.length;
      return pre - PRE_SUFFIXES.length;
    }
    const post = POST_SUFFIXES.findIndex((name) => rest.startsWith(name));
    if (post < 0) {
      this.kind = Kind.Invalid;
      return -1;
    }
    this.at += POST_SUFFIXES[post]!.length;
    return post;
  }

  /** What may follow the token just read (apk-tools' next_token). */
  private followingKind(): Kind {
    if (this.afterZeros) {
      this.afterZeros = false;
      return this.at === this.text.length ? Kind.End : Kind.Digit;
    }
    return this.separatorKind(this.kind);
  }

  private separatorKind(current: Kind): Kind {
    const c = this.text[this.at];
    if (c === undefined) return Kind.End;
    if ((current === Kind.Digit || current === Kind.DigitOrZero) && c >= 'a' && c <= 'z') return Kind.Letter;
    if (current === Kind.Letter && isDigit(c)) return Kind.Digit;
    if (current === Kind.Suffix && isDigit(c)) return Kind.SuffixNumber;
    let next = Kind.Invalid;
    if (c === '.') next = Kind.DigitOrZero;
    else if (c === '_') next = Kind.Suffix;
    else if (c === '-' && this.text[this.at + 1] === 'r') {
      next = Kind.Revision;
      this.at++;
    }
    this.at++;
    // Components come in grammar order: no digit after a suffix, no suffix after -r.
    if (next < current && !(next === Kind.DigitOrZero && current === Kind.Digit) && !(next === Kind.Suffix && current === Kind.SuffixNumber)) {
      return Kind.Invalid;
    }
    return next;
  }
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Whether `text` is a version apk-tools accepts. */
export function isApkVersion(text: string): boolean {
  const tokens = new Tokens(text);
  while (tokens.kind !== Kind.End && tokens.kind !== Kind.Invalid) tokens.next();
  return tokens.kind === Kind.End;
}

/** < 0, 0 or > 0 as `a` is older than, the same as, or newer than `b`. */
export function compareApkVersions(a: string, b: string): number {
  const ta = new Tokens(a);
  const tb = new Tokens(b);
  let va = 0;
  let vb = 0;
  while (ta.kind === tb.kind && ta.kind !== Kind.End && ta.kind !== Kind.Invalid && va === vb) {
    va = ta.next();
    vb = tb.next();
  }
  if (va !== vb) return va < vb ? -1 : 1;
  if (ta.kind === tb.kind) return 0;
  // Equal so far: the one that goes on is newer, unless it goes on with a pre-release suffix.
  if (ta.kind === Kind.Suffix && ta.next() < 0) return -1;
  if (tb.kind === Kind.Suffix && tb.next() < 0) return 1;
  return ta.kind > tb.kind ? -1 : ta.kind < tb.kind ? 1 : 0;
}

/** A version constraint of a dependency: `=`, `<`, `>`, `<=`, `>=`, `~` (same prefix), or none. */
export type VersionOp = '=' | '<' | '>' | '<=' | '>=' | '~';

export function satisfiesApkVersion(version: string, op: VersionOp, wanted: string): boolean {
  if (op === '~') return version === wanted || (version.startsWith(wanted) && /^[._\-a-z]/.test(version.slice(wanted.length)));
  const c = compareApkVersions(version, wanted);
  switch (op) {
    case '=':
      return c === 0;
    case '<':
      return c < 0;
    case '>':
      return c > 0;
    case '<=':
      return c <= 0;
    default:
      return c >= 0;
  }
}

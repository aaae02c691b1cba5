/**
 * apk dependency atoms (apk-tools' src/package.c `apk_dep_parse`): `[!]name[op version]`,
 * op one of `=`, `<`, `>`, `<=`, `>=`, `~` (the version's prefix); names may be virtual
 * (`so:libc.musl-x86_64.so.1`, `cmd:sh`, `pc:zlib`, `/bin/sh`). A `!` makes a conflict.
 * Provides (`p:`) are `name` or `name=version`.
 */
import { InfraError, printable } from '../../errors.js';
import { isApkVersion, type VersionOp } from './version.js';

export interface ApkDependency {
  name: string;
  /** A `!conflict`: no installed package may provide `name` (in `version`'s range if given). */
  conflict: boolean;
  version?: { op: VersionOp; version: string };
}

export interface ApkProvide {
  name: string;
  /** Versioned provides satisfy versioned dependencies; unversioned ones only bare names. */
  version?: string;
}

/** Longest operators first, so `<=` is not read as `<`. */
const DEPENDENCY = /^(!?)([^\s!<>=~]+)(?:(<=|>=|<|>|=|~)(\S+))?$/;

/** The atoms of a space-separated `D:`, `i:` or `depend` value. */
export function parseDependencies(value: string | undefined, what: string): ApkDependency[] {
  return words(value).map((word) => parseAtom(word) ?? badAtom(word, what));
}

/** One dependency atom, or undefined when it is not in apk's form. */
export function parseAtom(word: string): ApkDependency | undefined {
  const m = DEPENDENCY.exec(word);
  if (m === null || (m[4] !== undefined && !isApkVersion(m[4]))) return undefined;
  const dependency: ApkDependency = { name: m[2]!, conflict: m[1] === '!' };
  if (m[3] !== undefined) dependency.version = { op: m[3] as VersionOp, version: m[4]! };
  return dependency;
}

/** The entries of a space-separated `p:` or `provides` value. */
export function parseProvides(value: string | undefined, what: string): ApkProvide[] {
  return words(value).map((word) => {
    const [name, version, extra] = word.split('=');
    if (!name || extra !== undefined || (version !== undefined && !isApkVersion(version))) badAtom(word, what);
    return version === undefined ? { name } : { name, version };
  });
}

/** The atom as apk writes it back. */
export function formatDependency(dependency: ApkDependency): string {
  const range = dependency.version ? `${dependency.version.op}${dependency.version.version}` : '';
  return `${dependency.conflict ? '!' : ''}${dependency.name}${range}`;
}

function words(value: string | undefined): string[] {
  return (value ?? '').split(/\s+/).filter((word) => word !== '');
}

function badAtom(word: string, what: string): never {
  throw new InfraError('PACKAGE', `${what} has a dependency "${printable(word.slice(0, 200))}" that is not in apk's form; the repository index is damaged: report it to its maintainers`);
}

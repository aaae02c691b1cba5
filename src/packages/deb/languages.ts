/**
 * What `rootfs create --lang L` installs, by package family: the packages of each language
 * of the guest runner's table (docs/guest-runner.md), plus what every image gets. Debian
 * names are bookworm's, Alpine names 3.20's.
 */
import { InfraError } from '../../errors.js';

export type PackageFamily = 'debian' | 'alpine';

type LanguageTable = ReadonlyArray<{ names: readonly string[]; packages: readonly string[] }>;

/** Language (and its guest-runner aliases) → the Debian packages that provide its command. */
const DEBIAN: LanguageTable = [
  { names: ['python', 'python3', 'py'], packages: ['python3'] },
  { names: ['nodejs', 'node', 'javascript', 'js'], packages: ['nodejs'] },
  { names: ['go', 'golang'], packages: ['golang-go'] },
  { names: ['rust', 'rs'], packages: ['rustc', 'cargo'] },
  { names: ['java'], packages: ['default-jdk-headless'] },
  { names: ['ruby', 'rb'], packages: ['ruby'] },
  { names: ['php'], packages: ['php-cli'] },
  { names: ['bash'], packages: ['bash'] },
  { names: ['perl', 'pl'], packages: ['perl'] },
  { names: ['lua'], packages: ['lua5.4'] },
  { names: ['r', 'R'], packages: ['r-base-core'] },
  { names: ['lisp', 'sbcl', 'commonlisp'], packages: ['sbcl'] },
  { names: ['c'], packages: ['gcc', 'libc6-dev'] },
  { names: ['cpp', 'c++', 'cxx'], packages: ['g++', 'libc6-dev'] },
];

/** The same languages, Alpine 3.20's packages. */
const ALPINE: LanguageTable = [
  { names: DEBIAN[0]!.names, packages: ['python3'] },
  { names: DEBIAN[1]!.names, packages: ['nodejs'] },
  { names: DEBIAN[2]!.names, packages: ['go'] },
  { names: DEBIAN[3]!.names, packages: ['rust', 'cargo'] },
  { names: DEBIAN[4]!.names, packages: ['openjdk17-jdk'] },
  { names: DEBIAN[5]!.names, packages: ['ruby'] },
  { names: DEBIAN[6]!.names, packages: ['php83'] },
  { names: DEBIAN[7]!.names, packages: ['bash'] },
  { names: DEBIAN[8]!.names, packages: ['perl'] },
  { names: DEBIAN[9]!.names, packages: ['lua5.4'] },
  { names: DEBIAN[10]!.names, packages: ['R'] },
  { names: DEBIAN[11]!.names, packages: ['sbcl'] },
  { names: DEBIAN[12]!.names, packages: ['gcc', 'musl-dev'] },
  { names: DEBIAN[13]!.names, packages: ['g++', 'musl-dev'] },
];

const TABLES: Readonly<Record<PackageFamily, LanguageTable>> = { debian: DEBIAN, alpine: ALPINE };

/** Every image gets the CA bundle: runtimes fetch over TLS. */
const ALWAYS = ['ca-certificates'];

/** The packages for `lang`; an unknown language is a usage error that lists the known ones. */
export function languagePackages(lang: string, family: PackageFamily = 'debian'): string[] {
  checkLanguage(lang);
  return [...TABLES[family].find((language) => language.names.includes(lang))!.packages, ...ALWAYS];
}

/** Refuses an unknown language before any work (both families' tables name the same languages). */
export function checkLanguage(lang: string): void {
  if (DEBIAN.some((language) => language.names.includes(lang))) return;
  const known = DEBIAN.map((language) => language.names[0]).join(', ');
  throw new InfraError('USAGE', `Unknown language '${lang}'. Known: ${known}.`, {
    option: 'lang',
    hint: 'pass one of them to {lang}; install anything else with {packages}',
  });
}

/**
 * The Debian name to try for an extra package that no repository has: Python's libraries
 * are packaged as `python3-NAME` (`--packages numpy` means python3-numpy).
 */
export function fallbackPackage(lang: string, name: string): string | undefined {
  return DEBIAN[0]!.names.includes(lang) && !name.startsWith('python3-') ? `python3-${name}` : undefined;
}

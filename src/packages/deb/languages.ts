/**
 * What `rootfs create --lang L` installs: the Debian packages of each language of the
 * guest runner's table (docs/guest-runner.md) that Debian packages, plus what every
 * image gets. Names are bookworm's.
 */
import { InfraError } from '../../errors.js';

/** Language (and its guest-runner aliases) → the packages that provide its command. */
const LANGUAGES: ReadonlyArray<{ names: readonly string[]; packages: readonly string[] }> = [
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

/** Every image gets the CA bundle: runtimes fetch over TLS. */
const ALWAYS = ['ca-certificates'];

/** The packages for `lang`; an unknown language is a usage error that lists the known ones. */
export function languagePackages(lang: string): string[] {
  const found = LANGUAGES.find((language) => language.names.includes(lang));
  if (found === undefined) {
    const known = LANGUAGES.map((language) => language.names[0]).join(', ');
    throw new InfraError('USAGE', `Unknown language '${lang}'. Known: ${known}.`, {
      option: 'lang',
      hint: 'pass one of them to {lang}; install anything else with {packages}',
    });
  }
  return [...found.packages, ...ALWAYS];
}

/**
 * The name to try for an extra package that no repository has: Python's libraries are
 * packaged as `python3-NAME` (`--packages numpy` means python3-numpy).
 */
export function fallbackPackage(lang: string, name: string): string | undefined {
  const python = LANGUAGES[0]!;
  return python.names.includes(lang) && !name.startsWith('python3-') ? `python3-${name}` : undefined;
}

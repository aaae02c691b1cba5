/**
 * Where packages come from and which keys vouch for them, read from the base image's tree
 * (never the host): apt's one-line `sources.list` format and deb822 `.sources` files
 * (sources.list(5)), and the keyring of each source: its `Signed-By` (paths in the tree or
 * an inline key block), else `/etc/apt/trusted.gpg.d/*.{gpg,asc}`, `/etc/apt/trusted.gpg`
 * and `/usr/share/keyrings/debian-archive-keyring.gpg`.
 */
import { InfraError, isInfraError } from '../../errors.js';
import { lookup } from '../../tree/edit.js';
import type { DirInode } from '../../tree/tree.js';
import { field, fieldLines, parseParagraphs } from './deb822.js';

/** The base image's files as `rootfs create` kept them: absolute paths in the tree. */
export interface BaseFiles {
  root: DirInode;
  /** The bytes of the regular file at `path` (symlinks followed), or undefined. */
  readFile(path: string): Buffer | undefined;
}

export interface Source {
  uri: string;
  suite: string;
  components: string[];
  /** Keyring files (binary or armoured) trusted for this source. */
  keyrings: Buffer[];
  /** Where it was declared, for messages. */
  origin: string;
}

const SOURCES_LIST = '/etc/apt/sources.list';
const SOURCES_DIR = '/etc/apt/sources.list.d';
const TRUSTED_DIR = '/etc/apt/trusted.gpg.d';
const DEFAULT_KEYRINGS = ['/etc/apt/trusted.gpg', '/usr/share/keyrings/debian-archive-keyring.gpg'];
/** No keyring file is larger than this (Debian's whole archive keyring is ~100 KB). */
const MAX_KEYRING_BYTES = 16 * 1024 * 1024;
const MAX_SOURCES = 1000;

interface Declared {
  uri: string;
  suite: string;
  components: string[];
  signedBy: string[];
  origin: string;
}

/**
 * The sources to read: `lines` (one-line forms, e.g. from the command line) when given,
 * else the tree's. Each comes with its keyring, read from the tree.
 */
export function readSources(base: BaseFiles, lines?: readonly string[]): Source[] {
  const declared = lines && lines.length > 0 ? lines.flatMap((l, i) => oneLine(l, `repository ${i + 1}`)) : treeSources(base);
  if (declared.length === 0) {
    throw new InfraError('INPUT', `the base image declares no Debian package sources (${SOURCES_LIST}, ${SOURCES_DIR}/); pass a repository such as "deb http://deb.debian.org/debian bookworm main"`, {
      option: 'repository',
    });
  }
  if (declared.length > MAX_SOURCES) throw new InfraError('INPUT', `more than ${MAX_SOURCES} package sources are declared; that is not a base image`);
  return declared.map((d) => ({ uri: httpUri(d), suite: d.suite, components: d.components, origin: d.origin, keyrings: keyringFor(base, d) }));
}

/**
 * One-line sources given as an option, checked before any work (the base's family is not
 * known yet): a bare http(s) URL is an apk repository, anything else must be
 * `deb URI SUITE COMPONENT...` with an http(s) URI, or it is a malformed value (a usage error).
 */
export function checkRepositoryLines(lines: readonly string[]): void {
  lines.forEach((line, i) => {
    if (/^https?:\/\/\S+$/.test(line.trim())) return;
    try {
      for (const declared of oneLine(line, `repository ${i + 1}`)) httpUri(declared);
    } catch (err) {
      if (!isInfraError(err)) throw err;
      throw new InfraError('USAGE', err.detail, { option: 'repository', hint: 'give {repository} as "deb http://deb.debian.org/debian bookworm main" (Debian) or a URL such as https://dl-cdn.alpinelinux.org/alpine/v3.20/main (Alpine)' });
    }
  });
}

/** The source's URI without trailing slashes; only http and https are fetched. */
function httpUri(source: Declared): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(source.uri)?.[1]?.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    throw new InfraError('INPUT', `${source.origin}: the source URI ${source.uri} is not http or https, the only kinds supported; use an http(s) mirror`, { option: 'repository' });
  }
  if (source.suite.endsWith('/') || source.components.length === 0) {
    throw new InfraError('INPUT', `${source.origin}: "${source.suite}" is a flat repository (no components), which is not supported; use a "dists/SUITE" repository`, { option: 'repository' });
  }
  return source.uri.replace(/\/+$/, '');
}

function treeSources(base: BaseFiles): Declared[] {
  const found: Declared[] = [];
  const list = base.readFile(SOURCES_LIST);
  if (list) list.toString('utf8').split('\n').forEach((l, i) => found.push(...oneLine(l, `${SOURCES_LIST}:${i + 1}`)));
  for (const name of directoryNames(base.root, SOURCES_DIR)) {
    const path = `${SOURCES_DIR}/${name}`;
    const text = base.readFile(path)?.toString('utf8');
    if (text === undefined) continue;
    if (name.endsWith('.list')) text.split('\n').forEach((l, i) => found.push(...oneLine(l, `${path}:${i + 1}`)));
    else if (name.endsWith('.sources')) found.push(...deb822Sources(text, path));
  }
  return found;
}

/** `deb [opt=value ...] URI SUITE COMPONENT...`; comments, blank lines and `deb-src` give nothing. */
function oneLine(line: string, origin: string): Declared[] {
  const text = line.replace(/#.*/, '').trim();
  if (text === '' || text.startsWith('deb-src')) return [];
  const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(text);
  if (!m) throw new InfraError('INPUT', `${origin}: "${text.slice(0, 100)}" is not a "deb URI SUITE COMPONENT..." line`, { option: 'repository' });
  const options = new Map((m[1] ?? '').trim().split(/\s+/).filter(Boolean).map((o) => o.split('=', 2) as [string, string]));
  const signedBy = options.get('signed-by')?.split(',').filter(Boolean) ?? [];
  return [{ uri: m[2]!, suite: m[3]!, components: m[4]!.split(/\s+/).filter(Boolean), signedBy, origin }];
}

/** A deb822 `.sources` file: every combination of its URIs and Suites, `Enabled: no` skipped. */
function deb822Sources(text: string, origin: string): Declared[] {
  return parseParagraphs(text, origin, true).flatMap((p) => {
    const types = (field(p, 'Types') ?? '').split(/\s+/);
    if (!types.includes('deb') || field(p, 'Enabled')?.toLowerCase() === 'no') return [];
    const signed = field(p, 'Signed-By') ?? '';
    // An inline key block is kept whole; otherwise Signed-By lists keyring paths.
    const signedBy = signed.includes('-----BEGIN PGP') ? [signed] : fieldLines(p, 'Signed-By').flatMap((l) => l.split(/[\s,]+/));
    const components = (field(p, 'Components') ?? '').split(/\s+/).filter(Boolean);
    const uris = (field(p, 'URIs') ?? '').split(/\s+/).filter(Boolean);
    const suites = (field(p, 'Suites') ?? '').split(/\s+/).filter(Boolean);
    return uris.flatMap((uri) => suites.map((suite) => ({ uri, suite, components, signedBy, origin })));
  });
}

function keyringFor(base: BaseFiles, source: Declared): Buffer[] {
  if (source.signedBy.length > 0) {
    return source.signedBy.map((entry) => {
      if (entry.includes('-----BEGIN PGP')) return Buffer.from(entry.split('\n').map((l) => (l.trim() === '.' ? '' : l.trim())).join('\n'));
      if (!entry.startsWith('/')) {
        throw new InfraError('INPUT', `${source.origin}: Signed-By "${entry}" is not a keyring path (key fingerprints there are not supported); name a keyring file`, { option: 'repository' });
      }
      const keyring = readKeyringFile(base, entry);
      if (!keyring) throw new InfraError('INPUT', `${source.origin}: the keyring ${entry} named by Signed-By is not in the base image; add it to the image or fix Signed-By`, { path: entry });
      return keyring;
    });
  }
  const trusted = directoryNames(base.root, TRUSTED_DIR)
    .filter((n) => n.endsWith('.gpg') || n.endsWith('.asc'))
    .map((n) => `${TRUSTED_DIR}/${n}`);
  return [...trusted, ...DEFAULT_KEYRINGS].map((p) => readKeyringFile(base, p)).filter((k): k is Buffer => k !== undefined);
}

function readKeyringFile(base: BaseFiles, path: string): Buffer | undefined {
  const data = base.readFile(path);
  if (data && data.length > MAX_KEYRING_BYTES) throw new InfraError('INPUT', `the keyring ${path} in the base image is larger than ${MAX_KEYRING_BYTES} bytes; that is not a keyring`, { path });
  return data;
}

/** Names in a directory of the tree, sorted; none when it is missing. */
function directoryNames(root: DirInode, path: string): string[] {
  const dir = lookup(root, path);
  return dir?.kind === 'dir' ? [...dir.children.keys()].sort() : [];
}

/**
 * .deb files for the unpacking tests: real ones from the Debian archive (the closure of
 * some packages on the debootstrap base, as apt itself resolves it, downloaded once and
 * cached), and small ones built here with dpkg-deb.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DebStanza, ResolvedDeb } from '../../src/packages/deb/types.js';
import type { ReadTreeFile } from '../../src/packages/retained.js';
import { resolvePath } from '../../src/tree/edit.js';
import type { DirInode } from '../../src/tree/tree.js';
import { contentBytes } from '../helpers/memory-sink.js';
import { debianMirror } from '../helpers/boot.js';

/** A ResolvedDeb for a local .deb, its stanza read with dpkg-deb (as the index would give it). */
export function resolvedDeb(file: string): ResolvedDeb {
  const text = execFileSync('dpkg-deb', ['-f', file], { encoding: 'utf8' });
  const fields = new Map<string, string>();
  let last = '';
  for (const line of text.split('\n')) {
    if (line.startsWith(' ')) fields.set(last, `${fields.get(last)}\n${line}`);
    else if (line.includes(':')) {
      last = line.slice(0, line.indexOf(':'));
      fields.set(last, line.slice(line.indexOf(':') + 1).trim());
    }
  }
  const stanza: DebStanza = { fields, package: fields.get('Package')!, version: fields.get('Version')!, architecture: fields.get('Architecture')! };
  return { stanza, file };
}

/**
 * The .debs apt installs for `packages` (no Recommends) on the base tree `base`, from the
 * bookworm archive of this machine's apt sources, in apt's unpack order.
 */
export function archiveClosure(base: string, packages: string[]): ResolvedDeb[] {
  const cache = join(tmpdir(), 'infra-op-cache', `debs-bookworm-${packages.join('+')}`);
  const order = join(cache, 'order');
  if (!existsSync(order)) fetchClosure(base, packages, cache);
  return readFileSync(order, 'utf8').split('\n').filter((f) => f !== '').map((f) => resolvedDeb(join(cache, f)));
}

function fetchClosure(base: string, packages: string[], cache: string): void {
  const work = `${cache}.partial-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  for (const dir of ['state/lists/partial', 'cache/archives/partial', 'etc']) mkdirSync(join(work, dir), { recursive: true });
  const keyring = join(base, 'usr/share/keyrings/debian-archive-keyring.gpg');
  writeFileSync(join(work, 'etc/sources.list'), `deb [signed-by=${keyring}] ${debianMirror()} bookworm main\n`);
  const apt = (args: string[]) =>
    execFileSync('apt-get', [
      '-qq',
      '-o', `Dir::Etc::SourceList=${join(work, 'etc/sources.list')}`,
      '-o', 'Dir::Etc::SourceParts=/nonexistent',
      '-o', `Dir::State=${join(work, 'state')}`,
      '-o', `Dir::State::status=${join(base, 'var/lib/dpkg/status')}`,
      '-o', `Dir::Cache=${join(work, 'cache')}`,
      '-o', 'APT::Architecture=amd64',
      '-o', 'APT::Architectures=amd64',
      '-o', 'Debug::NoLocking=1',
      ...args,
    ], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'] });
  apt(['update']);
  const plan = apt(['install', '-s', '--no-install-recommends', ...packages]);
  const names = [...plan.matchAll(/^Inst (\S+) /gm)].map((m) => m[1]!);
  apt(['install', '-y', '--download-only', '--no-install-recommends', ...packages]);
  const archives = join(work, 'cache/archives');
  const files = readdirSync(archives).filter((f) => f.endsWith('.deb'));
  const ordered = names.map((name) => {
    const file = files.find((f) => f.startsWith(`${name}_`));
    if (file === undefined) throw new Error(`apt planned ${name} but did not download it`);
    return file;
  });
  mkdirSync(dirname(cache), { recursive: true });
  rmSync(cache, { recursive: true, force: true });
  mkdirSync(cache);
  for (const file of ordered) renameSync(join(archives, file), join(cache, file));
  writeFileSync(join(cache, 'order'), ordered.join('\n') + '\n');
  rmSync(work, { recursive: true, force: true });
}

export interface DebSpec {
  name: string;
  version?: string;
  /** Extra control fields (`Replaces: a`). */
  control?: string[];
  /** Path in the package (no leading /) → content; a trailing `/` makes a directory; `-> target` a symlink. */
  files: Record<string, string>;
  conffiles?: string[];
  postinst?: string;
  compression?: 'xz' | 'gzip' | 'zstd';
}

/** Builds a .deb with dpkg-deb --build (root-owned, fixed times). */
export function buildDeb(dir: string, spec: DebSpec): string {
  const root = join(dir, `${spec.name}-src`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  const control = [
    `Package: ${spec.name}`,
    `Version: ${spec.version ?? '1.0'}`,
    'Architecture: all',
    'Maintainer: Test <test@example.org>',
    ...(spec.control ?? []),
    `Description: test package ${spec.name}`,
    ' A package built by the tests.',
  ];
  writeFileSync(join(root, 'DEBIAN/control'), control.join('\n') + '\n');
  if (spec.conffiles) writeFileSync(join(root, 'DEBIAN/conffiles'), spec.conffiles.join('\n') + '\n');
  if (spec.postinst) {
    writeFileSync(join(root, 'DEBIAN/postinst'), spec.postinst);
    chmodSync(join(root, 'DEBIAN/postinst'), 0o755);
  }
  for (const [path, content] of Object.entries(spec.files)) {
    const full = join(root, path);
    if (path.endsWith('/')) mkdirSync(full, { recursive: true });
    else {
      mkdirSync(dirname(full), { recursive: true });
      if (content.startsWith('-> ')) execFileSync('ln', ['-s', content.slice(3), full]);
      else writeFileSync(full, content);
    }
  }
  execFileSync('find', [root, '-exec', 'touch', '-h', '-d', '@1700000000', '{}', '+']);
  const out = join(dir, `${spec.name}_${spec.version ?? '1.0'}_all.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Z', spec.compression ?? 'xz', '--build', root, out], { stdio: 'ignore' });
  return out;
}

/** Reads files of a tree loaded by loadTree or filled through the tests' MemorySink. */
export function treeReader(root: DirInode): ReadTreeFile {
  return (path) => {
    const inode = resolvePath(root, path)?.inode;
    if (inode?.kind !== 'file') return undefined;
    return contentBytes(inode.content);
  };
}

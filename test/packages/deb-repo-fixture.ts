/**
 * Test fixtures for the repository side: a signed apt repository built offline with the
 * real tools (dpkg-deb, apt-ftparchive, gpg --clearsign) and served from 127.0.0.1 with
 * optional tampering, and a base tree read from a host directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { resolvePath } from '../../src/tree/edit.js';
import type { DirInode } from '../../src/tree/tree.js';
import { loadTree } from '../helpers/boot.js';
import { contentBytes } from '../helpers/memory-sink.js';

export const REPO_TOOLS = ['gpg', 'gpgv', 'apt-ftparchive', 'dpkg-deb', 'dpkg'];

export interface DebSpec {
  name: string;
  version: string;
  arch?: string;
  fields?: Record<string, string>;
}

/** A throwaway GnuPG home with one key; returns its long key id. */
export function makeKey(home: string, uid: string, algo: 'ed25519' | 'rsa3072', expire = 'never'): string {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  gpg(home, ['--quick-gen-key', uid, algo, 'sign', expire]);
  const listing = gpg(home, ['--with-colons', '--list-keys', uid]);
  return /^pub:[^:]*:[^:]*:[^:]*:([0-9A-F]{16}):/m.exec(listing)![1]!;
}

export function gpg(home: string, args: string[]): string {
  return execFileSync('gpg', ['--homedir', home, '--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], {
    encoding: 'latin1',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
}

export function exportKey(home: string, id: string, armour = true): Buffer {
  return execFileSync('gpg', ['--homedir', home, '--batch', ...(armour ? ['--armor'] : []), '--export', id], { timeout: 60_000 });
}

/** Builds `.deb` files into `root/pool/main` and writes Packages, Packages.gz (or .xz) and Release for suite `test`. */
export function buildRepository(root: string, debs: readonly DebSpec[], releaseExtra: string[] = [], compressor: 'gzip' | 'xz' = 'gzip'): void {
  const pool = join(root, 'pool/main');
  mkdirSync(pool, { recursive: true });
  for (const deb of debs) {
    const dir = join(root, 'build', `${deb.name}_${deb.version}`);
    mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
    mkdirSync(join(dir, 'usr/share/doc', deb.name), { recursive: true });
    writeFileSync(join(dir, 'usr/share/doc', deb.name, 'README'), `${deb.name} ${deb.version}\n`);
    const fields = { Package: deb.name, Version: deb.version, Architecture: deb.arch ?? 'all', Maintainer: 'Test <test@example.invalid>', Description: `test package ${deb.name}`, ...deb.fields };
    writeFileSync(join(dir, 'DEBIAN/control'), Object.entries(fields).map(([k, v]) => `${k}: ${v}\n`).join(''));
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', dir, join(pool, `${deb.name}_${deb.version.replace(/^\d+:/, '')}_${fields.Architecture}.deb`)], { stdio: 'ignore', timeout: 60_000 });
  }
  const dists = join(root, 'dists/test');
  mkdirSync(join(dists, 'main/binary-amd64'), { recursive: true });
  const packages = execFileSync('apt-ftparchive', ['packages', 'pool'], { cwd: root, timeout: 60_000 });
  writeFileSync(join(dists, 'main/binary-amd64/Packages'), packages);
  const suffix = compressor === 'gzip' ? 'gz' : 'xz';
  writeFileSync(join(dists, `main/binary-amd64/Packages.${suffix}`), execFileSync(compressor, ['-9', ...(compressor === 'gzip' ? ['-n'] : [])], { input: packages }));
  const release = execFileSync(
    'apt-ftparchive',
    ['-o', 'APT::FTPArchive::Release::Suite=test', '-o', 'APT::FTPArchive::Release::Codename=test', '-o', 'APT::FTPArchive::Release::Components=main', '-o', 'APT::FTPArchive::Release::Architectures=amd64', 'release', 'dists/test'],
    { cwd: root, encoding: 'utf8', timeout: 60_000 },
  );
  writeFileSync(join(dists, 'Release'), release.replace(/^(Date: .*)$/m, (line) => [line, ...releaseExtra].join('\n')));
}

/** Clear-signs dists/test/Release into InRelease with each of `keys` (one signature each). */
export function signRelease(root: string, home: string, keys: readonly string[]): void {
  const dists = join(root, 'dists/test');
  gpg(home, ['--digest-algo', 'SHA512', ...keys.flatMap((k) => ['--local-user', `${k}!`]), '--clearsign', '-o', join(dists, 'InRelease'), join(dists, 'Release')]);
}

/** Serves `root` on 127.0.0.1; `overrides` maps URL paths to other bodies (tampering). */
export async function serveRepository(root: string): Promise<{ url: string; server: Server; overrides: Map<string, Buffer>; requests: string[] }> {
  const overrides = new Map<string, Buffer>();
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const body = overrides.get(path) ?? (path.includes('..') ? undefined : readOrUndefined(join(root, path)));
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, overrides, requests };
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** A base tree loaded from a host directory, with the reader resolveDebs takes. */
export async function baseFromDir(dir: string): Promise<{ tree: DirInode; readFile: (path: string) => Buffer | undefined }> {
  const tree = await loadTree(dir);
  return {
    tree,
    readFile: (path) => {
      const inode = resolvePath(tree, path)?.inode;
      return inode?.kind === 'file' ? contentBytes(inode.content) : undefined;
    },
  };
}

/** A dpkg status stanza for a package the base has installed. */
export function statusStanza(name: string, version: string, extra: Record<string, string> = {}): string {
  const fields = { Package: name, Status: 'install ok installed', Priority: 'optional', Architecture: 'all', Version: version, ...extra };
  return `${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`;
}

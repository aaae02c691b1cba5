/**
 * apk repositories (apk-repositories(5)): one URL a line in the image's
 * `/etc/apk/repositories`, the architecture in `/etc/apk/arch`; a repository's index is
 * `URL/ARCH/APKINDEX.tar.gz` and its packages `URL/ARCH/NAME-VERSION.apk`. Fetching uses
 * the registry client's retries, proxies and per-host limit, every body bounded (the
 * index by MAX_INDEX_FETCH, a package by its index size).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InfraError, printable } from '../../errors.js';
import type { HttpClient } from '../../image/registry/http.js';
import { fetchDocument } from '../deb/download.js';
import type { BaseFiles } from '../deb/sources.js';
import { readApkIndex } from './apkindex.js';
import type { ApkKeys } from './trust.js';
import type { ApkEntry, ResolvedApk } from './types.js';

export const REPOSITORIES = '/etc/apk/repositories';
export const ARCH_FILE = '/etc/apk/arch';
/** Alpine's largest compressed index is a few MiB. */
const MAX_INDEX_FETCH = 64 * 1024 * 1024;
const MAX_REPOSITORIES = 64;

/**
 * The repository URLs: `given` when there are any, else the image's file (comments, blank
 * lines and `@tag` repositories, which serve only tagged requests, left out).
 */
export function apkRepositories(base: BaseFiles, given: readonly string[] = []): string[] {
  const lines = given.length > 0 ? given : (base.readFile(REPOSITORIES)?.toString('utf8') ?? '').split('\n');
  const urls = lines.map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('@'));
  if (urls.length === 0) {
    throw new InfraError('INPUT', `the image names no apk repositories (${REPOSITORIES}); pass one such as https://dl-cdn.alpinelinux.org/alpine/v3.20/main`, { option: 'repository' });
  }
  return urls.slice(0, MAX_REPOSITORIES).map((url) => {
    if (!/^https?:\/\/[^\s]+$/.test(url)) throw new InfraError('INPUT', `the apk repository "${printable(url.slice(0, 200))}" is not an http(s) URL, the only kind supported`, { option: 'repository' });
    return url.replace(/\/+$/, '');
  });
}

/** The image's architecture (`/etc/apk/arch`). */
export function apkArch(base: BaseFiles): string {
  const arch = base.readFile(ARCH_FILE)?.toString('utf8').trim() ?? '';
  if (!/^[a-z0-9_]{1,32}$/.test(arch)) throw new InfraError('INPUT', `the image has no usable ${ARCH_FILE}; it is not an Alpine image, or a damaged one`, { path: ARCH_FILE });
  return arch;
}

/** Every repository's verified index entries, in repository order. */
export async function readRepositories(http: HttpClient, repositories: readonly string[], keys: ApkKeys, arch: string): Promise<ApkEntry[]> {
  const entries: ApkEntry[] = [];
  for (const url of repositories) {
    const indexUrl = `${url}/${arch}/APKINDEX.tar.gz`;
    const what = `the index ${indexUrl}`;
    entries.push(...(await readApkIndex(await fetchDocument(http, indexUrl, MAX_INDEX_FETCH, what), keys, url, what)));
  }
  return entries;
}

/** Downloads each entry's `.apk` into `dir` (checked later, by the installer, against the entry). */
export async function downloadApks(http: HttpClient, entries: readonly ApkEntry[], arch: string, dir: string): Promise<ResolvedApk[]> {
  const resolved: ResolvedApk[] = [];
  for (const entry of entries) {
    const name = `${entry.name}-${entry.version}.apk`;
    if (name.includes('/')) throw new InfraError('PACKAGE', `the index names a package "${printable(name)}" with a slash; the repository is hostile or damaged`);
    const url = `${entry.repository}/${arch}/${name}`;
    const file = join(dir, name);
    await writeFile(file, await fetchDocument(http, url, entry.size, `the package ${url}`));
    resolved.push({ entry, file });
  }
  return resolved;
}

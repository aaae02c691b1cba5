/**
 * The repository side of the apk path, the counterpart of src/packages/deb/resolve.ts:
 * the image's (or the caller's) repositories and keys, the verified indexes, resolution
 * against the installed database, and the `.apk` downloads into the cache.
 */
import { mkdir } from 'node:fs/promises';
import { HttpClient } from '../../image/registry/http.js';
import type { BaseFiles } from '../deb/sources.js';
import { apkEntry, parseRecords } from './apkindex.js';
import { INSTALLED } from './db.js';
import { apkArch, apkRepositories, downloadApks, readRepositories } from './repositories.js';
import { ApkUniverse, chooseApks } from './resolve.js';
import { readApkKeys } from './trust.js';
import type { ResolvedApk } from './types.js';

export interface ApkFetchOptions extends BaseFiles {
  /** Repository URLs; none: the image's /etc/apk/repositories. */
  repositories: readonly string[];
  /** Dependency atoms (`python3`, `so:libz.so.1`). */
  packages: readonly string[];
  /** Where `.apk` files are downloaded. */
  cacheDir: string;
  progress?: (event: { kind: 'repositories'; count: number } | { kind: 'resolved'; packages: number }) => void;
}

/** The packages to install, dependencies first, each downloaded (checked later, as it is unpacked). */
export async function fetchApks(options: ApkFetchOptions): Promise<ResolvedApk[]> {
  const repositories = apkRepositories(options, options.repositories);
  const arch = apkArch(options);
  const keys = readApkKeys(options);
  const installedText = options.readFile(INSTALLED)?.toString('utf8') ?? '';
  const installed = parseRecords(installedText, INSTALLED).map((record) => apkEntry(record, '', INSTALLED));
  const http = new HttpClient();
  try {
    options.progress?.({ kind: 'repositories', count: repositories.length });
    const available = await readRepositories(http, repositories, keys, arch);
    const chosen = chooseApks(new ApkUniverse(available, installed), options.packages);
    options.progress?.({ kind: 'resolved', packages: chosen.length });
    await mkdir(options.cacheDir, { recursive: true });
    return await downloadApks(http, chosen, arch, options.cacheDir);
  } finally {
    await http.close();
  }
}

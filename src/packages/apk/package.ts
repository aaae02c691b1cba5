/**
 * Reading a `.apk` (apk-v2(5)): three concatenated gzip members, the signatures, the
 * control tar (`.PKGINFO` and the scripts) and the data tar. The index entry vouches for
 * the control member by its SHA-1 (`C:`), the control member for the data member by its
 * sha256 (`.PKGINFO` `datahash`): so the package signature itself is not needed, as in
 * apk-tools when an index lists the package. Both hashes are checked before anything is
 * unpacked.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { InfraError, printable } from '../../errors.js';
import { smallTarFiles } from './archive.js';
import { gzipMemberAt } from './gzip.js';
import { isSignatureName } from './trust.js';
import type { ApkEntry } from './types.js';

/** The signature and control members fit in this; a larger control member is not apk's format. */
const MAX_HEAD_BYTES = 8 * 1024 * 1024;
/** Control scripts are the `.`-named files besides `.PKGINFO` (abuild's list). */
export const SCRIPT_NAMES = ['pre-install', 'post-install', 'pre-upgrade', 'post-upgrade', 'pre-deinstall', 'post-deinstall', 'trigger'];

export interface ApkControl {
  /** `.PKGINFO` as `key = value` pairs, in order. */
  pkginfo: Array<[string, string]>;
  /** Scripts by name (`post-install`…). */
  scripts: Map<string, Buffer>;
  /** Where the data member starts in the file. */
  dataStart: number;
}

/** Reads and checks a package's control member, then checks its data member's hash. */
export async function readApkControl(file: string, entry: ApkEntry, what: string): Promise<ApkControl> {
  const head = await readHead(file, entry, what);
  const first = gzipMemberAt(head, 0, MAX_HEAD_BYTES, what);
  const firstFiles = await smallTarFiles(first.data, MAX_HEAD_BYTES, what);
  const signed = firstFiles.size > 0 && [...firstFiles.keys()].every(isSignatureName);
  const control = signed ? gzipMemberAt(head, first.end, MAX_HEAD_BYTES, what) : first;
  const controlSha1 = createHash('sha1').update(head.subarray(control.start, control.end)).digest();
  if (!controlSha1.equals(entry.controlSha1)) {
    throw new InfraError('INTEGRITY', `the control part of ${what} has the SHA-1 Q1${controlSha1.toString('base64')}, not the index's Q1${entry.controlSha1.toString('base64')}; the mirror may be mid-update: try again, or use another mirror`);
  }
  const files = signed ? await smallTarFiles(control.data, MAX_HEAD_BYTES, what) : firstFiles;
  const info = files.get('.PKGINFO');
  if (info === undefined) throw notAnApk(what, 'its control part has no .PKGINFO');
  const pkginfo = parsePkginfo(info.toString('utf8'));
  if (pkginfoValue(pkginfo, 'pkgname') !== entry.name || pkginfoValue(pkginfo, 'pkgver') !== entry.version) {
    throw new InfraError('PACKAGE', `${what} says it is ${printable(pkginfoValue(pkginfo, 'pkgname') ?? '?')} ${printable(pkginfoValue(pkginfo, 'pkgver') ?? '?')}, not the package its index entry names; the repository is inconsistent: report it to its maintainers`);
  }
  await checkDataHash(file, control.end, pkginfoValue(pkginfo, 'datahash'), what);
  const scripts = new Map(SCRIPT_NAMES.flatMap((name) => (files.has(`.${name}`) ? [[name, files.get(`.${name}`)!] as const] : [])));
  return { pkginfo, scripts, dataStart: control.end };
}

/** The `.apk` must be the size the index says; its head holds the signature and control members. */
async function readHead(file: string, entry: ApkEntry, what: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size !== entry.size) throw new InfraError('INTEGRITY', `${what} is ${size} bytes, not the index's ${entry.size}; the mirror may be mid-update: try again, or use another mirror`);
    const head = Buffer.alloc(Math.min(size, MAX_HEAD_BYTES));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function checkDataHash(file: string, start: number, datahash: string | undefined, what: string): Promise<void> {
  if (datahash === undefined || !/^[0-9a-f]{64}$/.test(datahash)) throw notAnApk(what, 'its .PKGINFO has no sha256 datahash');
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { start, highWaterMark: 256 * 1024 })) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== datahash) {
    throw new InfraError('INTEGRITY', `the data part of ${what} has the sha256 ${actual}, not its .PKGINFO's datahash ${datahash}; the package was changed after it was built: try again, or use another mirror`, { digest: `sha256:${datahash}` });
  }
}

/** `.PKGINFO` lines are `key = value`; `#` starts a comment line. */
export function parsePkginfo(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf(' = ');
    if (line.startsWith('#') || at < 0) continue;
    pairs.push([line.slice(0, at), line.slice(at + 3)]);
  }
  return pairs;
}

export function pkginfoValue(pkginfo: ReadonlyArray<readonly [string, string]>, key: string): string | undefined {
  return pkginfo.find(([k]) => k === key)?.[1];
}

export function pkginfoValues(pkginfo: ReadonlyArray<readonly [string, string]>, key: string): string[] {
  return pkginfo.filter(([k]) => k === key).flatMap(([, value]) => value.split(/\s+/).filter((word) => word !== ''));
}

export function notAnApk(what: string, detail: string): InfraError {
  return new InfraError('PACKAGE', `${what} is not in apk's format: ${detail}; the repository is damaged: try another mirror`);
}

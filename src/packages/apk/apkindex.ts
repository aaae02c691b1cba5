/**
 * `APKINDEX.tar.gz` (apk-v2(5), apk-tools' src/database.c `load_index`): a signature
 * member (see trust.ts), then one gzip member holding `DESCRIPTION` and `APKINDEX`. The
 * index text is records of `K:value` lines separated by blank lines, the same form as
 * `/lib/apk/db/installed`. Only verified bytes are parsed.
 */
import { InfraError, printable } from '../../errors.js';
import { smallTarFiles } from './archive.js';
import { gzipMemberAt } from './gzip.js';
import { parseDependencies, parseProvides } from './relations.js';
import { isSignatureName, verifyApkSignatures, type ApkKeys } from './trust.js';
import type { ApkEntry } from './types.js';
import { isApkVersion } from './version.js';

/** Signature members hold a few hundred bytes per signature. */
const MAX_SIGNATURE_BYTES = 64 * 1024;
/** Alpine's largest index (community, x86_64) inflates to about 10 MiB. */
export const MAX_INDEX_BYTES = 256 * 1024 * 1024;
const MAX_RECORDS = 1_000_000;
/** `C:` holds `Q1` and the base64 of a SHA-1. */
const CHECKSUM = /^Q1([A-Za-z0-9+/]{27}=)$/;

/** One record: its `K:value` lines, in order. */
export type ApkRecord = Array<[string, string]>;

/** Verifies an `APKINDEX.tar.gz` against `keys` and returns its packages. */
export async function readApkIndex(file: Buffer, keys: ApkKeys, repository: string, what: string): Promise<ApkEntry[]> {
  const signatures = gzipMemberAt(file, 0, MAX_SIGNATURE_BYTES, what);
  const signed = await smallTarFiles(signatures.data, MAX_SIGNATURE_BYTES, `the signatures of ${what}`);
  const names = [...signed.keys()];
  if (names.length === 0 || !names.every(isSignatureName)) verifyApkSignatures([], file, keys, what);
  verifyApkSignatures(names.map((name) => ({ name, signature: signed.get(name)! })), file.subarray(signatures.end), keys, what);
  const content = gzipMemberAt(file, signatures.end, MAX_INDEX_BYTES, what);
  if (content.end !== file.length) throw damaged(what, 'it has data after the index member');
  const index = (await smallTarFiles(content.data, MAX_INDEX_BYTES, what)).get('APKINDEX');
  if (index === undefined) throw damaged(what, 'it has no APKINDEX file');
  return parseRecords(index.toString('utf8'), what).map((record) => apkEntry(record, repository, what));
}

/** Records of `K:value` lines, separated by blank lines. */
export function parseRecords(text: string, what: string): ApkRecord[] {
  const records: ApkRecord[] = [];
  let current: ApkRecord = [];
  for (const line of text.split('\n')) {
    if (line === '') {
      if (current.length > 0) records.push(current);
      current = [];
      if (records.length > MAX_RECORDS) throw damaged(what, `it has more than ${MAX_RECORDS} records`);
      continue;
    }
    if (line[1] !== ':') throw damaged(what, `the line "${printable(line.slice(0, 80))}" is not "K:value"`);
    current.push([line[0]!, line.slice(2)]);
  }
  if (current.length > 0) records.push(current);
  return records;
}

/** The first value of field `key` in a record. */
export function recordField(record: ReadonlyArray<readonly [string, string]>, key: string): string | undefined {
  return record.find(([k]) => k === key)?.[1];
}

/** A package record as an entry; `repository` is '' for the installed database. */
export function apkEntry(record: ApkRecord, repository: string, what: string): ApkEntry {
  const name = recordField(record, 'P');
  const version = recordField(record, 'V');
  const checksum = CHECKSUM.exec(recordField(record, 'C') ?? '');
  const size = Number(recordField(record, 'S') ?? 0);
  const priority = Number(recordField(record, 'k') ?? 0);
  if (!name || !version || !isApkVersion(version) || checksum === null || !Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(priority)) {
    throw damaged(what, `the record of "${printable((name ?? '?').slice(0, 80))}" lacks a usable P:, V:, C:, S: or k:`);
  }
  const of = `${printable(name)} ${printable(version)} in ${what}`;
  return {
    fields: record,
    name,
    version,
    arch: recordField(record, 'A') ?? '',
    controlSha1: Buffer.from(checksum[1]!, 'base64'),
    size,
    depends: parseDependencies(recordField(record, 'D'), of),
    provides: parseProvides(recordField(record, 'p'), of),
    installIf: parseDependencies(recordField(record, 'i'), of),
    providerPriority: priority,
    repository,
  };
}

function damaged(what: string, detail: string): InfraError {
  return new InfraError('PACKAGE', `${what} is damaged: ${detail}; try again, or use another mirror`);
}

/**
 * apk's signatures (apk-tools' src/package.c, `apk_sign_ctx`): a leading gzip member holds
 * one tar entry per signature, `.SIGN.RSA.<key name>` (RSA PKCS#1 v1.5 over SHA-1) or
 * `.SIGN.RSA256.<key name>` (over SHA-256), each over the compressed bytes of everything
 * after that member. The key name is the file name of a PEM public key in the image's
 * `/etc/apk/keys`; one valid signature by a known key is enough.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { InfraError, printable } from '../../errors.js';
import { lookup } from '../../tree/edit.js';
import type { BaseFiles } from '../deb/sources.js';

export const KEYS_DIR = '/etc/apk/keys';
/** A PEM RSA public key of 8192 bits is under 2 KiB; a larger file is not a key. */
const MAX_KEY_BYTES = 16 * 1024;
const MAX_KEYS = 256;

/** Signature entry name prefix → the digest it is over. */
const SIGNATURE_KINDS = [
  { prefix: '.SIGN.RSA256.', digest: 'sha256' },
  { prefix: '.SIGN.RSA.', digest: 'sha1' },
] as const;

/** Trusted keys by file name. */
export type ApkKeys = ReadonlyMap<string, KeyObject>;

/** The public keys in the image's `/etc/apk/keys`; files that are not PEM public keys are refused. */
export function readApkKeys(base: BaseFiles): ApkKeys {
  const dir = lookup(base.root, KEYS_DIR);
  const names = dir?.kind === 'dir' ? [...dir.children.keys()].sort().slice(0, MAX_KEYS) : [];
  const keys = new Map<string, KeyObject>();
  for (const name of names) {
    const path = `${KEYS_DIR}/${name}`;
    const pem = base.readFile(path);
    if (pem === undefined) continue;
    if (pem.length > MAX_KEY_BYTES) throw badKey(path, `it is larger than ${MAX_KEY_BYTES} bytes`);
    try {
      keys.set(name, createPublicKey(pem));
    } catch (err) {
      throw badKey(path, (err as Error).message);
    }
  }
  return keys;
}

function badKey(path: string, detail: string): InfraError {
  return new InfraError('INPUT', `${printable(path)} in the image is not a PEM public key (${detail}); remove it or replace it with the repository's key`, { path });
}

/** One signature entry of a signature member. */
export interface ApkSignature {
  /** The tar entry name, `.SIGN.RSA.<key name>` or `.SIGN.RSA256.<key name>`. */
  name: string;
  signature: Buffer;
}

/** Whether a tar entry name is a signature's. */
export function isSignatureName(name: string): boolean {
  return SIGNATURE_KINDS.some((kind) => name.startsWith(kind.prefix));
}

/**
 * Checks that at least one of `signatures` verifies over `signed` with a trusted key;
 * otherwise the error says, for each signature, which key it names and why it failed.
 */
export function verifyApkSignatures(signatures: readonly ApkSignature[], signed: Buffer, keys: ApkKeys, what: string): void {
  if (signatures.length === 0) throw untrusted(what, 'it is not signed');
  const problems: string[] = [];
  for (const { name, signature } of signatures) {
    const kind = SIGNATURE_KINDS.find((k) => name.startsWith(k.prefix));
    const keyName = kind === undefined ? '' : name.slice(kind.prefix.length);
    const key = keys.get(keyName);
    if (kind === undefined) problems.push(`"${printable(name)}" is not a signature apk knows`);
    else if (key === undefined) problems.push(`the key ${printable(keyName)} is not in ${KEYS_DIR}`);
    else if (verifies(kind.digest, signed, key, signature)) return;
    else problems.push(`the signature by ${printable(keyName)} (${kind.digest}) does not verify`);
  }
  throw untrusted(what, problems.join('; '));
}

function verifies(digest: string, signed: Buffer, key: KeyObject, signature: Buffer): boolean {
  try {
    return key.asymmetricKeyType === 'rsa' && verify(digest, signed, key, signature);
  } catch {
    return false;
  }
}

function untrusted(what: string, detail: string): InfraError {
  return new InfraError('INTEGRITY', `${what} is not trusted: ${detail}; if the repository is the one you meant, add its public key to ${KEYS_DIR} in the image; a signature that does not verify means the file changed after signing: try again, or use another mirror`);
}

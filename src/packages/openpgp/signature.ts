/**
 * Version 4 signature packets (RFC 4880 §5.2.3) and public-key packets (§5.5.2): parsing
 * and checking one signature against one key with node:crypto. RSA is PKCS#1 v1.5 over
 * the hash (§5.2.2); EdDSA legacy signs the hash value itself (RFC 9580 §5.2.3.3).
 */
import { createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { BodyReader, ED25519_OID, HASH_NAMES, PublicKeyAlgorithm, Subpacket, pgpError } from './packets.js';

/** A v4 public key or subkey (RFC 4880 §5.5.2), with its fingerprint (§12.2). */
export interface PublicKey {
  /** The packet body, as hashed into key signatures. */
  body: Buffer;
  /** Seconds since the epoch. */
  created: number;
  algorithm: number;
  /** 40 upper-case hex digits: SHA-1 of 0x99, the two-octet length and the body. */
  fingerprint: string;
  /** The low 64 bits of the fingerprint, 16 upper-case hex digits. */
  keyId: string;
  /** The key as node:crypto takes it; undefined for algorithms this verifier does not support. */
  verifier?: KeyObject;
  /** RSA modulus size, for refusing weak keys. */
  bits: number;
}

/** The smallest RSA modulus accepted for a signature (apt refuses weaker keys too). */
const MIN_RSA_BITS = 2048;
/** Larger moduli are not in use and only make verification slow: such keys are ignored. */
const MAX_RSA_BITS = 16384;

/** A key packet body as fingerprints and key signatures hash it: 0x99, two-octet length, body (§5.2.4, §12.2). */
export function keyFrame(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x99, body.length >> 8, body.length & 0xff]), body]);
}

export function parsePublicKey(body: Buffer): PublicKey | undefined {
  const r = new BodyReader(body, 'a public key packet');
  const version = r.u8();
  // v3 is obsolete and v6 (RFC 9580) not supported; a v4 key body fits a two-octet length.
  if (version !== 4 || body.length > 0xffff) return undefined;
  const created = r.u32();
  const algorithm = r.u8();
  const fingerprint = createHash('sha1').update(keyFrame(body)).digest('hex').toUpperCase();
  const key: PublicKey = { body, created, algorithm, fingerprint, keyId: fingerprint.slice(-16), bits: 0 };
  if (algorithm === PublicKeyAlgorithm.RsaEncryptSign || algorithm === PublicKeyAlgorithm.RsaSignOnly) {
    const n = stripZeros(r.mpi());
    const e = stripZeros(r.mpi());
    key.bits = n.length * 8;
    if (key.bits > MAX_RSA_BITS) return key;
    key.verifier = importKey({ kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') });
  } else if (algorithm === PublicKeyAlgorithm.EdDsaLegacy) {
    const oid = r.bytes(r.u8());
    const point = r.mpi();
    // The point is 0x40 followed by the 32-byte native Ed25519 key (RFC 9580 §11.2.1).
    if (oid.equals(ED25519_OID) && point.length === 33 && point[0] === 0x40) {
      key.verifier = importKey({ kty: 'OKP', crv: 'Ed25519', x: point.subarray(1).toString('base64url') });
    }
  }
  return key;
}

/** The key as node:crypto takes it, or undefined when its numbers are unusable (such a key verifies nothing). */
function importKey(jwk: JsonWebKey): KeyObject | undefined {
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** A v4 signature packet and the subpackets this verifier uses. */
export interface Signature {
  type: number;
  algorithm: number;
  hashAlgorithm: number;
  /** Version through the hashed subpackets: hashed after the data (RFC 4880 §5.2.4). */
  hashedPart: Buffer;
  hashLeft16: Buffer;
  values: Buffer[];
  /** Signature Creation Time, seconds since the epoch (hashed area). */
  created?: number;
  /** Signature Expiration Time: seconds after creation, 0 = never (hashed area). */
  expiresAfter?: number;
  /** Key Expiration Time: seconds after the key's creation, 0 = never (hashed area). */
  keyExpiresAfter?: number;
  keyFlags?: number;
  /** Issuer key ids and fingerprints named in either area (hints only: the math decides). */
  issuers: string[];
  embedded: Signature[];
  /** The type of a critical subpacket this verifier does not know: the signature must be refused (§5.2.3.1). */
  unknownCritical?: number;
}

const KNOWN_SUBPACKETS = new Set<number>(Object.values(Subpacket));
const MAX_SUBPACKETS = 1000;

/** `nested`: an embedded signature, whose own embedded signatures are ignored (no recursion). */
export function parseSignature(body: Buffer, nested = false): Signature | undefined {
  const r = new BodyReader(body, 'a signature packet');
  if (r.u8() !== 4) return undefined; // v3 signatures are obsolete; v6 is not supported
  const type = r.u8();
  const algorithm = r.u8();
  const hashAlgorithm = r.u8();
  const hashedArea = r.bytes(r.u16());
  const hashedPart = body.subarray(0, r.pos);
  const unhashedArea = r.bytes(r.u16());
  const hashLeft16 = r.bytes(2);
  const values: Buffer[] = [];
  while (r.left > 0 && values.length < 2) values.push(r.mpi());
  const sig: Signature = { type, algorithm, hashAlgorithm, hashedPart, hashLeft16, values, issuers: [], embedded: [] };
  readSubpackets(hashedArea, sig, true, nested);
  readSubpackets(unhashedArea, sig, false, nested);
  return sig;
}

/** Subpackets (RFC 4880 §5.2.3.1): length, type with the critical bit, data. */
function readSubpackets(area: Buffer, sig: Signature, hashed: boolean, nested: boolean): void {
  const r = new BodyReader(area, 'a signature subpacket area');
  for (let count = 0; r.left > 0; count++) {
    if (count >= MAX_SUBPACKETS) throw pgpError('a signature has too many subpackets');
    const l0 = r.u8();
    const length = l0 < 192 ? l0 : l0 < 255 ? ((l0 - 192) << 8) + r.u8() + 192 : r.u32();
    if (length < 1) throw pgpError('a signature subpacket has no type');
    const data = r.bytes(length);
    const critical = (data[0]! & 0x80) !== 0;
    const type = data[0]! & 0x7f;
    const value = data.subarray(1);
    if (critical && !KNOWN_SUBPACKETS.has(type)) sig.unknownCritical = type;
    if (type === Subpacket.Issuer && value.length === 8) sig.issuers.push(value.toString('hex').toUpperCase());
    if (type === Subpacket.IssuerFingerprint && value.length === 21 && value[0] === 4) sig.issuers.push(value.subarray(1).toString('hex').toUpperCase());
    // A primary-key binding proves itself (the subkey signed it), so either area will do.
    if (type === Subpacket.EmbeddedSignature && !nested) {
      const inner = parseSignature(value, true);
      if (inner) sig.embedded.push(inner);
    }
    if (!hashed) continue;
    if (type === Subpacket.SignatureCreationTime && value.length === 4) sig.created = value.readUInt32BE(0);
    if (type === Subpacket.SignatureExpirationTime && value.length === 4) sig.expiresAfter = value.readUInt32BE(0);
    if (type === Subpacket.KeyExpirationTime && value.length === 4) sig.keyExpiresAfter = value.readUInt32BE(0);
    if (type === Subpacket.KeyFlags && value.length >= 1) sig.keyFlags = value[0]!;
  }
}

/** True when `sig` names `key` as its issuer (by key id or fingerprint), or names none. */
export function mayBeBy(sig: Signature, key: PublicKey): boolean {
  return sig.issuers.length === 0 || sig.issuers.some((id) => id === key.keyId || id === key.fingerprint);
}

/**
 * True when `sig` is `key`'s signature over `prefix` (the data, or the keys and user id
 * of a certification, framed as §5.2.4 says). Checks the math only; the caller checks
 * times, types and trust. `allowSha1` only for certifications of old keys.
 */
export function checkSignature(sig: Signature, key: PublicKey, prefix: Buffer[], allowSha1 = false): boolean {
  const hashName = HASH_NAMES.get(sig.hashAlgorithm);
  if (!hashName || (hashName === 'sha1' && !allowSha1)) return false;
  if (!key.verifier || sig.algorithm !== key.algorithm || sig.unknownCritical !== undefined || sig.created === undefined) return false;
  const trailer = Buffer.alloc(6);
  trailer[0] = 4;
  trailer[1] = 0xff;
  trailer.writeUInt32BE(sig.hashedPart.length, 2);
  const hashed = [...prefix, sig.hashedPart, trailer];
  const digest = hashed.reduce((h, part) => h.update(part), createHash(hashName)).digest();
  if (!digest.subarray(0, 2).equals(sig.hashLeft16)) return false;
  if (key.algorithm === PublicKeyAlgorithm.EdDsaLegacy) {
    const [rValue, sValue] = sig.values;
    if (!rValue || !sValue || rValue.length > 32 || sValue.length > 32) return false;
    return verify(null, digest, key.verifier, Buffer.concat([leftPad(rValue, 32), leftPad(sValue, 32)]));
  }
  const value = sig.values[0];
  if (!value || key.bits < MIN_RSA_BITS || value.length > key.bits / 8) return false;
  return verify(hashName, Buffer.concat(hashed), key.verifier, leftPad(value, key.bits / 8));
}

function leftPad(value: Buffer, size: number): Buffer {
  return value.length >= size ? value : Buffer.concat([Buffer.alloc(size - value.length), value]);
}

function stripZeros(value: Buffer): Buffer {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  return value.subarray(i);
}

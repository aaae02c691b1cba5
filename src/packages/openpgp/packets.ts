/**
 * OpenPGP framing, declared once: packet tags, algorithm numbers, subpacket types (with
 * the names of RFC 4880 / RFC 9580), the packet header (RFC 4880 §4.2), MPIs (§3.2) and
 * ASCII armour with its CRC-24 (§6). Input is hostile: every length is checked against
 * what is left before it is used.
 */
import { InfraError } from '../../errors.js';

/** Packet tags (RFC 4880 §4.3). */
export const PacketTag = {
  Signature: 2,
  PublicKey: 6,
  Trust: 12,
  UserId: 13,
  PublicSubkey: 14,
  UserAttribute: 17,
} as const;

/** Public-key algorithms (RFC 4880 §9.1; EdDSA legacy: RFC 9580 §9.1 "EdDSALegacy"). */
export const PublicKeyAlgorithm = { RsaEncryptSign: 1, RsaSignOnly: 3, EdDsaLegacy: 22 } as const;

/** Hash algorithms (RFC 4880 §9.4) to node:crypto names. SHA-1 only for key certifications. */
export const HASH_NAMES: ReadonlyMap<number, string> = new Map([
  [2, 'sha1'],
  [8, 'sha256'],
  [9, 'sha384'],
  [10, 'sha512'],
  [11, 'sha224'],
]);

/** Signature types (RFC 4880 §5.2.1). */
export const SignatureType = {
  Binary: 0x00,
  CanonicalText: 0x01,
  GenericCertification: 0x10,
  PersonaCertification: 0x11,
  CasualCertification: 0x12,
  PositiveCertification: 0x13,
  SubkeyBinding: 0x18,
  PrimaryKeyBinding: 0x19,
  DirectKey: 0x1f,
  KeyRevocation: 0x20,
  SubkeyRevocation: 0x28,
} as const;

/** Signature subpacket types (RFC 4880 §5.2.3.1; Issuer Fingerprint: RFC 9580 §5.2.3.35). */
export const Subpacket = {
  SignatureCreationTime: 2,
  SignatureExpirationTime: 3,
  KeyExpirationTime: 9,
  Issuer: 16,
  KeyFlags: 27,
  EmbeddedSignature: 32,
  IssuerFingerprint: 33,
} as const;

/** Key Flags (RFC 4880 §5.2.3.21): "This key may be used to sign data." */
export const KEY_FLAG_SIGN = 0x02;

/** The OID of Ed25519 in the EdDSA legacy key format (RFC 9580 §9.2, 1.3.6.1.4.1.11591.15.1). */
export const ED25519_OID = Buffer.from('2b06010401da470f01', 'hex');

export interface Packet {
  tag: number;
  body: Buffer;
}

export function pgpError(detail: string): InfraError {
  return new InfraError('INTEGRITY', `OpenPGP data is malformed: ${detail}; the keyring or signature file is damaged`);
}

/** Splits a binary packet sequence (old and new headers; no partial lengths, which only data packets use). */
export function readPackets(data: Buffer): Packet[] {
  const packets: Packet[] = [];
  let pos = 0;
  while (pos < data.length) {
    const first = data[pos]!;
    if ((first & 0x80) === 0) throw pgpError(`byte ${pos} is not a packet header`);
    let tag: number;
    let length: number;
    let at = pos + 1;
    const need = (n: number): void => {
      if (at + n > data.length) throw pgpError('a packet header is cut short');
    };
    if (first & 0x40) {
      tag = first & 0x3f;
      need(1);
      const l0 = data[at++]!;
      if (l0 < 192) length = l0;
      else if (l0 < 224) {
        need(1);
        length = ((l0 - 192) << 8) + data[at++]! + 192;
      } else if (l0 === 255) {
        need(4);
        length = data.readUInt32BE(at);
        at += 4;
      } else throw pgpError(`packet at byte ${pos} uses partial body lengths, not allowed for keys and signatures`);
    } else {
      tag = (first >> 2) & 0x0f;
      const lengthType = first & 0x03;
      if (lengthType === 3) throw pgpError(`packet at byte ${pos} has an indeterminate length`);
      const size = 1 << lengthType;
      need(size);
      length = data.readUIntBE(at, size);
      at += size;
    }
    if (at + length > data.length) throw pgpError(`packet at byte ${pos} claims ${length} bytes, past the end`);
    packets.push({ tag, body: data.subarray(at, at + length) });
    pos = at + length;
  }
  return packets;
}

/** A cursor over one packet body. */
export class BodyReader {
  pos = 0;
  constructor(
    readonly data: Buffer,
    private readonly what: string,
  ) {}

  bytes(n: number): Buffer {
    if (n < 0 || this.pos + n > this.data.length) throw pgpError(`${this.what} is cut short`);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8(): number {
    return this.bytes(1)[0]!;
  }

  u16(): number {
    return this.bytes(2).readUInt16BE(0);
  }

  u32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  /** A multiprecision integer (RFC 4880 §3.2): bit count, then the big-endian bytes. */
  mpi(): Buffer {
    const bits = this.u16();
    return this.bytes((bits + 7) >> 3);
  }

  get left(): number {
    return this.data.length - this.pos;
  }
}

/** CRC-24 of the armour checksum (RFC 4880 §6.1). */
export function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

const MAX_ARMOUR_LINES = 1_000_000;

/**
 * Decodes the body of one armoured block (RFC 4880 §6.2): the lines after the BEGIN line
 * up to (not including) the END line. Armour headers are skipped; a checksum line, when
 * present, must match (RFC 9580 §6.1 makes it optional).
 */
export function decodeArmourBody(lines: readonly string[]): Buffer {
  if (lines.length > MAX_ARMOUR_LINES) throw pgpError('the armoured block is too long');
  let i = 0;
  while (i < lines.length && lines[i]!.trim() !== '') {
    if (!/^[A-Za-z][A-Za-z0-9-]*: /.test(lines[i]!)) throw pgpError(`armour header line "${lines[i]!.slice(0, 40)}" is not "Key: Value"`);
    i++;
  }
  if (i >= lines.length) throw pgpError('the armoured block has no blank line after its headers');
  let base64 = '';
  let checksum: string | undefined;
  for (const raw of lines.slice(i + 1)) {
    const line = raw.trim();
    if (line === '') continue;
    if (checksum !== undefined) throw pgpError('text follows the armour checksum');
    if (line.startsWith('=') && line.length === 5) checksum = line.slice(1);
    else if (/^[A-Za-z0-9+/]+=*$/.test(line)) base64 += line;
    else throw pgpError('the armour holds a line that is not base64');
  }
  const data = Buffer.from(base64, 'base64');
  if (checksum !== undefined) {
    const expected = Buffer.from(checksum, 'base64');
    if (expected.length !== 3 || expected.readUIntBE(0, 3) !== crc24(data)) throw pgpError('the armour checksum (CRC-24) does not match its data');
  }
  return data;
}

/** Every armoured block of `label` ("PGP PUBLIC KEY BLOCK") in a text, decoded. */
export function dearmourAll(text: string, label: string): Buffer[] {
  const lines = text.split(/\r?\n/);
  const blocks: Buffer[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== `-----BEGIN ${label}-----`) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === `-----END ${label}-----`);
    if (end < 0) throw pgpError(`"-----BEGIN ${label}-----" has no END line`);
    blocks.push(decodeArmourBody(lines.slice(i + 1, end)));
    i = end;
  }
  return blocks;
}

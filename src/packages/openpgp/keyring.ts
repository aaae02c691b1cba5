/**
 * Keyrings: transferable public keys (RFC 4880 §11.1) from binary `.gpg` files and
 * armoured `.asc` files, reduced to the keys that may sign data. A primary key counts
 * when a self-certification of one of its user ids (or a direct-key signature) verifies;
 * a subkey when its binding signature (§5.2.1 0x18) and its embedded primary-key binding
 * (0x19, required for signing subkeys by §11.1) verify. Revocations by the key itself
 * (0x20, 0x28) and key expiry (§5.2.3.6) are recorded; designated revokers are not.
 */
import { PacketTag, SignatureType, KEY_FLAG_SIGN, dearmourAll, readPackets, type Packet } from './packets.js';
import { checkSignature, keyFrame, mayBeBy, parsePublicKey, parseSignature, type PublicKey, type Signature } from './signature.js';

/** A key that may sign data, and what limits it. */
export interface SigningKey {
  key: PublicKey;
  /** The primary key's fingerprint (the same as key's for a primary). */
  primary: string;
  /** Seconds since the epoch after which the key (or its primary) is expired; undefined = never. */
  expires?: number;
  revoked: boolean;
}

/** The keys of all the keyring files given (binary or armoured, told apart by their first byte). */
export function readKeyring(files: readonly Buffer[]): SigningKey[] {
  const keys: SigningKey[] = [];
  for (const file of files) {
    const binary = file[0] !== undefined && (file[0] & 0x80) !== 0;
    const blocks = binary ? [file] : dearmourAll(file.toString('latin1'), 'PGP PUBLIC KEY BLOCK');
    for (const block of blocks) for (const cert of splitCertificates(readPackets(block))) keys.push(...signingKeys(cert));
  }
  return keys;
}

interface Certificate {
  primary: Packet;
  /** Signatures directly on the primary key (direct-key, revocation). */
  direct: Packet[];
  userIds: Array<{ id: Packet; sigs: Packet[] }>;
  subkeys: Array<{ key: Packet; sigs: Packet[] }>;
}

function splitCertificates(packets: readonly Packet[]): Certificate[] {
  const certs: Certificate[] = [];
  let sigs: Packet[] | undefined;
  for (const packet of packets) {
    const cert = certs[certs.length - 1];
    switch (packet.tag) {
      case PacketTag.PublicKey: {
        const next: Certificate = { primary: packet, direct: [], userIds: [], subkeys: [] };
        certs.push(next);
        sigs = next.direct;
        break;
      }
      case PacketTag.UserId:
        if (cert) cert.userIds.push({ id: packet, sigs: (sigs = []) });
        break;
      case PacketTag.UserAttribute:
        sigs = undefined; // photo ids: their certifications are not needed
        break;
      case PacketTag.PublicSubkey:
        if (cert) cert.subkeys.push({ key: packet, sigs: (sigs = []) });
        break;
      case PacketTag.Signature:
        sigs?.push(packet);
        break;
      default:
        break; // trust packets and anything else a keyring may hold
    }
  }
  return certs;
}

/** A user id as certifications hash it: 0xB4, four-octet length, the id (§5.2.4). */
function userIdFrame(id: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xb4;
  head.writeUInt32BE(id.length, 1);
  return Buffer.concat([head, id]);
}

/** The signatures of `types` by `signer` over `prefix` that verify. */
function verified(packets: readonly Packet[], types: readonly number[], signer: PublicKey, prefix: Buffer[]): Signature[] {
  return packets
    .map((p) => parseOrSkip(p.body))
    .filter((s): s is Signature => s !== undefined && types.includes(s.type) && mayBeBy(s, signer))
    .filter((s) => checkSignature(s, signer, prefix, true));
}

/** A malformed signature in a keyring (often a third party's certification) only fails to count. */
function parseOrSkip(body: Buffer): Signature | undefined {
  try {
    return parseSignature(body);
  } catch {
    return undefined;
  }
}

const CERTIFICATIONS = [
  SignatureType.GenericCertification,
  SignatureType.PersonaCertification,
  SignatureType.CasualCertification,
  SignatureType.PositiveCertification,
];

function newest(sigs: readonly Signature[]): Signature | undefined {
  return sigs.reduce<Signature | undefined>((best, s) => (best && best.created! >= s.created! ? best : s), undefined);
}

function earliest(times: ReadonlyArray<number | undefined>): number | undefined {
  const known = times.filter((t): t is number => t !== undefined);
  return known.length > 0 ? Math.min(...known) : undefined;
}

function expiry(key: PublicKey, sig: Signature | undefined): number | undefined {
  return sig?.keyExpiresAfter ? key.created + sig.keyExpiresAfter : undefined;
}

function canSign(sig: Signature | undefined): boolean {
  return sig?.keyFlags === undefined || (sig.keyFlags & KEY_FLAG_SIGN) !== 0;
}

function signingKeys(cert: Certificate): SigningKey[] {
  const primary = parsePublicKey(cert.primary.body);
  if (!primary?.verifier) return [];
  const primaryFrame = keyFrame(primary.body);
  const certifications = cert.userIds.flatMap((u) => verified(u.sigs, CERTIFICATIONS, primary, [primaryFrame, userIdFrame(u.id.body)]));
  const directSigs = verified(cert.direct, [SignatureType.DirectKey], primary, [primaryFrame]);
  if (certifications.length === 0 && directSigs.length === 0) return [];
  // The newest user id self-certification states expiry and flags; a direct-key
  // signature may shorten the key's life (RFC 9580 §5.2.3.10), never extend it.
  const latest = newest(certifications) ?? newest(directSigs);
  const revoked = verified(cert.direct, [SignatureType.KeyRevocation], primary, [primaryFrame]).length > 0;
  const primaryExpires = earliest([expiry(primary, latest), ...directSigs.map((s) => expiry(primary, s))]);
  const keys: SigningKey[] = [];
  if (canSign(latest)) keys.push({ key: primary, primary: primary.fingerprint, revoked, ...(primaryExpires ? { expires: primaryExpires } : {}) });
  for (const sub of cert.subkeys) {
    const subkey = parsePublicKey(sub.key.body);
    if (!subkey?.verifier) continue;
    const prefix = [primaryFrame, keyFrame(subkey.body)];
    const binding = newest(verified(sub.sigs, [SignatureType.SubkeyBinding], primary, prefix));
    if (!binding || binding.keyFlags === undefined || !canSign(binding)) continue;
    const backSigned = binding.embedded.some((e) => e.type === SignatureType.PrimaryKeyBinding && checkSignature(e, subkey, prefix, true));
    if (!backSigned) continue;
    const subRevoked = verified(sub.sigs, [SignatureType.SubkeyRevocation], primary, prefix).length > 0;
    const expires = earliest([primaryExpires, expiry(subkey, binding)]);
    keys.push({ key: subkey, primary: primary.fingerprint, revoked: revoked || subRevoked, ...(expires ? { expires } : {}) });
  }
  return keys;
}

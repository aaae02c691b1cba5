/**
 * The Cleartext Signature Framework (RFC 4880 §7, RFC 9580 §7): the signed text is
 * dash-unescaped, stripped of trailing spaces and tabs on every line and hashed with CRLF
 * line ends, without the line break before the signature. Several signatures may follow
 * (Debian signs with RSA and Ed25519 keys): one good signature by a trusted, unexpired,
 * unrevoked key is enough. The text handed back is exactly what was verified.
 */
import { InfraError } from '../../errors.js';
import { PacketTag, SignatureType, decodeArmourBody, pgpError, readPackets } from './packets.js';
import type { SigningKey } from './keyring.js';
import { checkSignature, mayBeBy, parseSignature, type Signature } from './signature.js';

const BEGIN_MESSAGE = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';
const END_SIGNATURE = '-----END PGP SIGNATURE-----';
/** Debian signs with three keys; a block with more signatures than this is refused (each costs a hash of the text). */
const MAX_SIGNATURES = 16;
/** Clock skew tolerated for a signature made "in the future". */
const SKEW_SECONDS = 300;

export interface VerifiedText {
  /** The signed text as a byte string (latin1), lines joined with '\n' (as hashed, but LF). */
  text: string;
  /** The key whose signature was good. */
  signer: SigningKey;
}

interface Cleartext {
  lines: string[];
  signatures: Signature[];
}

/** Splits a cleartext-signed message into its text lines and signature packets. */
function parseCleartext(message: string, what: string): Cleartext {
  const lines = message.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[0] !== BEGIN_MESSAGE) throw malformed(what, `it does not start with "${BEGIN_MESSAGE}"`);
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    if (!/^Hash: [A-Z0-9, ]+$/.test(lines[i]!)) throw malformed(what, `its armour header "${lines[i]!.slice(0, 40)}" is not a Hash header`);
  }
  const textStart = i + 1;
  const sigStart = lines.indexOf(BEGIN_SIGNATURE, textStart);
  const sigEnd = lines.indexOf(END_SIGNATURE, sigStart + 1);
  if (i >= lines.length || sigStart < 0 || sigEnd < 0) throw malformed(what, 'its signature block is missing or unterminated');
  if (lines.slice(sigEnd + 1).some((l) => l.trim() !== '')) throw malformed(what, 'text follows the signature block');
  const text = lines.slice(textStart, sigStart).map((line) => {
    if (line.startsWith('- ')) return line.slice(2);
    if (line.startsWith('-')) throw malformed(what, `the line "${line.slice(0, 40)}" starts with a dash but is not dash-escaped`);
    return line;
  });
  const packets = readPackets(decodeArmourBody(lines.slice(sigStart + 1, sigEnd)));
  if (packets.length > MAX_SIGNATURES) throw malformed(what, `it carries ${packets.length} signatures, more than ${MAX_SIGNATURES}`);
  const signatures = packets.map((p) => {
    const sig = p.tag === PacketTag.Signature ? parseSignature(p.body) : undefined;
    if (!sig) throw malformed(what, 'its signature block holds a packet that is not a v4 signature');
    return sig;
  });
  return { lines: text.map((l) => l.replace(/[ \t]+$/, '')), signatures };
}

/**
 * Verifies a cleartext-signed message against `keys` at `now` (seconds since the epoch).
 * Throws INTEGRITY naming every signature's key id and why it was not accepted.
 */
export function verifyCleartext(message: Buffer, keys: readonly SigningKey[], now: number, what: string): VerifiedText {
  // latin1 keeps every byte as one char, so the text hashed is the bytes received.
  const { lines, signatures } = parseCleartext(message.toString('latin1'), what);
  const signed = Buffer.from(lines.join('\r\n'), 'latin1');
  const reasons: string[] = [];
  for (const sig of signatures) {
    const named = sig.issuers[sig.issuers.length - 1] ?? 'an unnamed key';
    const candidates = keys.filter((k) => mayBeBy(sig, k.key) && sig.algorithm === k.key.algorithm);
    if (candidates.length === 0) {
      reasons.push(`key ${named} is not in the keyring`);
      continue;
    }
    for (const candidate of candidates) {
      const problem = refusal(sig, candidate, now) ?? (checkSignature(sig, candidate.key, [signed]) ? undefined : 'the signature does not verify');
      if (problem === undefined) return { text: lines.join('\n'), signer: candidate };
      reasons.push(`key ${candidate.key.keyId}: ${problem}`);
    }
  }
  throw new InfraError(
    'INTEGRITY',
    `${what} has no good signature by a trusted key (${reasons.join('; ') || 'no signatures'}); check the repository's Signed-By keyring or the mirror`,
  );
}

/** Why a signature by `signer` cannot count, apart from its math. */
function refusal(sig: Signature, signer: SigningKey, now: number): string | undefined {
  if (sig.type !== SignatureType.CanonicalText) return `signature type 0x${sig.type.toString(16)} is not a text signature`;
  if (signer.revoked) return 'the key is revoked';
  if (signer.expires !== undefined && signer.expires <= now) return `the key expired on ${new Date(signer.expires * 1000).toISOString()}`;
  if (sig.created === undefined) return 'the signature has no creation time';
  if (sig.created > now + SKEW_SECONDS) return 'the signature was made in the future';
  if (sig.created < signer.key.created) return 'the signature is older than the key';
  if (sig.expiresAfter && sig.created + sig.expiresAfter <= now) return 'the signature has expired';
  return undefined;
}

function malformed(what: string, detail: string): InfraError {
  return pgpError(`${what} is not a cleartext-signed message: ${detail}`);
}

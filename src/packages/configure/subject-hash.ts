/**
 * OpenSSL's subject name hash (`openssl x509 -hash`, the `HASH.N` names of `openssl
 * rehash`): the first four bytes, little-endian, of the SHA-1 of the name's canonical
 * encoding (crypto/x509/x_name.c `x509_name_canon`, `asn1_string_canon`): every string
 * value of the types in ASN1_MASK_CANON becomes a UTF8String, trimmed, inner whitespace
 * runs collapsed to one space, ASCII lowercased; each RDN is re-encoded as a DER SET (its
 * members sorted), and the SETs are concatenated without the outer SEQUENCE.
 */
import { createHash, X509Certificate } from 'node:crypto';

/** A DER element: tag, and where its header and contents are. */
interface Element {
  tag: number;
  start: number;
  body: number;
  end: number;
}

const SEQUENCE = 0x30;
const SET = 0x31;
const UTF8_STRING = 0x0c;
/** ASN1_MASK_CANON's types, with how their bytes decode. */
const CANONICAL_STRINGS = new Map<number, (bytes: Buffer) => string>([
  [0x0c, (b) => b.toString('utf8')], // UTF8String
  [0x13, (b) => b.toString('latin1')], // PrintableString
  [0x14, (b) => b.toString('latin1')], // T61String (OpenSSL reads it as Latin-1)
  [0x16, (b) => b.toString('latin1')], // IA5String
  [0x1a, (b) => b.toString('latin1')], // VisibleString
  [0x1c, (b) => String.fromCodePoint(...Array.from({ length: b.length / 4 }, (_, i) => b.readUInt32BE(i * 4)))], // UniversalString
  [0x1e, (b) => String.fromCharCode(...Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(i * 2)))], // BMPString
]);

/** `openssl x509 -subject_hash` of a DER certificate, as 8 hex digits. */
export function subjectHash(certificate: X509Certificate): string {
  const der = certificate.raw;
  const tbs = children(der, element(der, 0))[0]!;
  const fields = children(der, tbs);
  // tbsCertificate: [0] version (optional), serialNumber, signature, issuer, validity, subject
  const subject = fields[fields[0]!.tag === 0xa0 ? 5 : 4]!;
  const canonical = Buffer.concat(children(der, subject).map((rdn) => canonicalRdn(der, rdn)));
  const sha1 = createHash('sha1').update(canonical).digest();
  return sha1.readUInt32LE(0).toString(16).padStart(8, '0');
}

function canonicalRdn(der: Buffer, rdn: Element): Buffer {
  const members = children(der, rdn).map((attribute) => {
    const [type, value] = children(der, attribute) as [Element, Element];
    const decode = CANONICAL_STRINGS.get(value.tag);
    const encodedValue = decode === undefined ? der.subarray(value.start, value.end) : tlv(UTF8_STRING, canonicalText(decode(der.subarray(value.body, value.end))));
    return tlv(SEQUENCE, Buffer.concat([der.subarray(type.start, type.end), encodedValue]));
  });
  return tlv(SET, Buffer.concat(members.sort(Buffer.compare)));
}

/** asn1_string_canon on the UTF-8 bytes: only ASCII bytes are spaces or change case. */
function canonicalText(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const space = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);
  let from = 0;
  let to = bytes.length;
  while (from < to && space(bytes[from]!)) from++;
  while (to > from && space(bytes[to - 1]!)) to--;
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const b = bytes[i]!;
    if (space(b)) {
      out.push(0x20);
      while (i + 1 < to && space(bytes[i + 1]!)) i++;
    } else out.push(b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
  }
  return Buffer.from(out);
}

function tlv(tag: number, body: Buffer): Buffer {
  const length = body.length;
  const header =
    length < 0x80 ? [tag, length] : length < 0x100 ? [tag, 0x81, length] : length < 0x10000 ? [tag, 0x82, length >> 8, length & 0xff] : [tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff];
  return Buffer.concat([Buffer.from(header), body]);
}

function element(der: Buffer, start: number): Element {
  const tag = der[start];
  let length = der[start + 1];
  if (tag === undefined || length === undefined) throw new RangeError('truncated DER');
  let body = start + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || body + count > der.length) throw new RangeError('bad DER length');
    length = der.readUIntBE(body, count);
    body += count;
  }
  if (body + length > der.length) throw new RangeError('truncated DER');
  return { tag, start, body, end: body + length };
}

function children(der: Buffer, parent: Element): Element[] {
  const out: Element[] = [];
  for (let at = parent.body; at < parent.end; at = out[out.length - 1]!.end) out.push(element(der, at));
  return out;
}

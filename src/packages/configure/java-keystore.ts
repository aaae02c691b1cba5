/**
 * Java's system trust store as ca-certificates-java builds it on a fresh install (its
 * postinst `update_cacerts` and the `update-ca-certificates-java` trigger the JRE's postinst
 * pulls): every `/etc/ssl/certs/*.pem` that links into /usr/share/ca-certificates becomes a
 * trusted-certificate entry `debian:NAME.pem` (lowercased) of `/etc/ssl/certs/java/cacerts`,
 * a JKS keystore with the store password `changeit` (/etc/default/cacerts).
 *
 * JKS (OpenJDK's sun.security.provider.JavaKeyStore `engineStore`): u32 magic 0xFEEDFEED,
 * u32 version 2, u32 entry count; per trusted certificate: u32 tag 2, the alias
 * (DataOutput.writeUTF: u16 length, modified UTF-8), u64 creation time in ms, the
 * certificate type "X.509" (writeUTF), u32 length and the DER bytes; then the SHA-1 of
 * the password as UTF-16BE, the bytes of "Mighty Aphrodite" and everything before.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { TrustedCertificate } from './ca-certificates.js';

export const CA_CERTIFICATES_JAVA_PACKAGE = 'ca-certificates-java';
export const JAVA_CACERTS = '/etc/ssl/certs/java/cacerts';
const STORE_PASSWORD = 'changeit';
const MAGIC = 0xfeedfeed;
const VERSION = 2;
const TRUSTED_CERT_TAG = 2;

/** The keystore of `trusted`, entries in alias order, each created at `createdMs`. */
export function javaKeystore(trusted: readonly TrustedCertificate[], createdMs: number): Buffer {
  const entries = trusted
    .map(({ pem, data }) => ({ alias: `debian:${Buffer.from(pem, 'latin1').toString('utf8').toLowerCase()}`, der: new X509Certificate(data).raw }))
    .sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
  const parts: Buffer[] = [u32(MAGIC), u32(VERSION), u32(entries.length)];
  for (const { alias, der } of entries) {
    const time = Buffer.alloc(8);
    time.writeBigUInt64BE(BigInt(createdMs));
    parts.push(u32(TRUSTED_CERT_TAG), utf(alias), time, utf('X.509'), u32(der.length), der);
  }
  const body = Buffer.concat(parts);
  const digest = createHash('sha1').update(Buffer.from(STORE_PASSWORD, 'utf16le').swap16()).update('Mighty Aphrodite', 'utf8').update(body).digest();
  return Buffer.concat([body, digest]);
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

/** DataOutput.writeUTF; aliases and the type hold no NUL and no character outside the BMP. */
function utf(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
}

/**
 * The OpenPGP verifier against the real archive's InRelease and the debootstrap base's
 * keyring, cross-checked with gpgv, and against messages and keys made by gpg: the
 * cleartext framework's edge cases, subkeys, expiry, revocation and armour damage.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyCleartext } from '../../src/packages/openpgp/cleartext.js';
import { readKeyring } from '../../src/packages/openpgp/keyring.js';
import { crc24, dearmourAll } from '../../src/packages/openpgp/packets.js';
import { debianMinbaseDir, debianMirror } from '../helpers/boot.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { exportKey, gpg, makeKey } from './deb-repo-fixture.js';

const NOW = Date.now() / 1000;

/**
 * gpgv's verdict as apt reads it: a GOODSIG status line (a revoked or expired key gives
 * REVKEYSIG or EXPKEYSIG instead, while gpgv still exits 0).
 */
function gpgvAccepts(keyring: string, file: string): boolean {
  const r = spawnSync('gpgv', ['--status-fd', '1', '--keyring', keyring, file], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 && /^\[GNUPG:\] GOODSIG /m.test(r.stdout);
}

function accepts(message: Buffer, keyrings: Buffer[], now = NOW): boolean {
  try {
    verifyCleartext(message, readKeyring(keyrings), now, 'test message');
    return true;
  } catch {
    return false;
  }
}

t.test('CRC-24 of the armour (RFC 4880 §6.1) and damaged checksums', async (t) => {
  t.equal(crc24(Buffer.alloc(0)), 0xb704ce, 'the initial value');
  t.equal(crc24(Buffer.from('123456789')), 0x21cf02, 'the CRC-24/OPENPGP check value');
  const armoured = ['-----BEGIN PGP PUBLIC KEY BLOCK-----', '', 'AAEC', `=${Buffer.from([0, 0, 0]).toString('base64')}`, '-----END PGP PUBLIC KEY BLOCK-----'];
  const crc = crc24(Buffer.from([0, 1, 2]));
  armoured[3] = `=${Buffer.from([crc >> 16, (crc >> 8) & 0xff, crc & 0xff]).toString('base64')}`;
  t.same(dearmourAll(armoured.join('\n'), 'PGP PUBLIC KEY BLOCK'), [Buffer.from([0, 1, 2])]);
  armoured[2] = 'AAED';
  t.throws(() => dearmourAll(armoured.join('\n'), 'PGP PUBLIC KEY BLOCK'), { code: 'INTEGRITY', message: /armour checksum \(CRC-24\) does not match/ });
});

t.test('the archive InRelease against the debootstrap base keyring, as gpgv judges it', async (t) => {
  if (!prerequisites(t, { tools: ['debootstrap', 'gpgv'] })) return;
  const base = debianMinbaseDir();
  const work = tempDir(t);
  const inRelease = join(work, 'InRelease');
  const res = await fetch(`${debianMirror()}/dists/bookworm/InRelease`, { signal: AbortSignal.timeout(60_000) });
  t.equal(res.status, 200, 'the archive serves InRelease');
  const message = Buffer.from(await res.arrayBuffer());
  writeFileSync(inRelease, message);
  const keyringFile = join(base, 'usr/share/keyrings/debian-archive-keyring.gpg');
  const keyring = readFileSync(keyringFile);
  const trustedDir = join(base, 'etc/apt/trusted.gpg.d');
  const ascs = readdirSync(trustedDir).map((f) => readFileSync(join(trustedDir, f)));

  const good = verifyCleartext(message, readKeyring([keyring]), NOW, 'InRelease');
  t.match(good.text, /^Origin: Debian\nLabel: Debian\n/, 'the verified text is the Release paragraph');
  t.ok(accepts(message, ascs), 'the armoured .asc keys of trusted.gpg.d verify it too');
  t.ok(gpgvAccepts(keyringFile, inRelease), 'gpgv agrees');

  // Each signature on its own: RSA subkeys and the Ed25519 release key.
  const signers = new Set<string>();
  for (const key of readKeyring([keyring])) {
    try {
      signers.add(verifyCleartext(message, [key], NOW, 'InRelease').signer.key.algorithm === 22 ? 'EdDSA' : 'RSA');
    } catch {
      // this key did not sign
    }
  }
  t.same([...signers].sort(), ['EdDSA', 'RSA'], 'both an RSA and an Ed25519 signature verify on their own');

  const tampered = Buffer.from(message);
  const at = message.indexOf('Codename: bookworm') + 'Codename: '.length;
  tampered[at] = 'B'.charCodeAt(0);
  writeFileSync(join(work, 'tampered'), tampered);
  t.throws(() => verifyCleartext(tampered, readKeyring([keyring]), NOW, 'InRelease'), { code: 'INTEGRITY', message: /does not verify/ }, 'one byte of the signed text changed');
  t.notOk(gpgvAccepts(keyringFile, join(work, 'tampered')), 'gpgv refuses it too');

  t.throws(() => verifyCleartext(message, [], NOW, 'InRelease'), { message: /key F8D2585B8783D481 is not in the keyring/ }, 'an empty keyring: the key ids are named');
});

t.test('messages and keys made by gpg', async (t) => {
  if (!prerequisites(t, { tools: ['gpg', 'gpgv'] })) return;
  const work = tempDir(t);
  const home = join(work, 'home');
  const ed = makeKey(home, 'Ed <ed@test.invalid>', 'ed25519');
  // An RSA primary that only certifies, signing through an Ed25519 subkey.
  gpg(home, ['--quick-gen-key', 'Sub <sub@test.invalid>', 'rsa3072', 'cert', 'never']);
  const subPrimary = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(home, ['--with-colons', '--list-keys', 'sub@test.invalid']))![1]!;
  gpg(home, ['--quick-add-key', subPrimary, 'ed25519', 'sign', 'never']);
  const short = makeKey(home, 'Short <short@test.invalid>', 'ed25519', '1d');
  const revoked = makeKey(home, 'Revoked <rev@test.invalid>', 'ed25519');

  const text = ['Plain line', '-dash line', '--- three dashes', 'trailing spaces   ', 'trailing tab\t', '', 'From the start', 'last line'].join('\n') + '\n';
  const sign = (key: string, name: string, input = text): string => {
    const file = join(work, name);
    writeFileSync(`${file}.txt`, input);
    gpg(home, ['--local-user', key, '--digest-algo', 'SHA256', '--clearsign', '-o', file, `${file}.txt`]);
    return file;
  };
  const keyring = (id: string): Buffer => exportKey(home, id);
  const keyringFile = (id: string): string => {
    const file = join(work, `${id}.gpg`);
    writeFileSync(file, exportKey(home, id, false));
    return file;
  };

  const byEd = sign(`${ed}!`, 'ed');
  const message = readFileSync(byEd);
  t.ok(accepts(message, [keyring(ed)]), 'dash-escaped lines and trailing whitespace: good');
  t.ok(gpgvAccepts(keyringFile(ed), byEd), 'gpgv: good');
  t.equal(verifyCleartext(message, readKeyring([keyring(ed)]), NOW, 'm').text, text.replace(/[ \t]+\n/g, '\n').slice(0, -1), 'the text handed back is the unescaped, stripped text');

  const crlf = join(work, 'crlf');
  writeFileSync(crlf, message.toString('latin1').replace(/\n/g, '\r\n'));
  t.ok(accepts(readFileSync(crlf), [keyring(ed)]), 'CRLF line ends: the canonical text is the same');
  t.ok(gpgvAccepts(keyringFile(ed), crlf), 'gpgv: good');

  const moved = join(work, 'moved');
  writeFileSync(moved, message.toString('latin1').replace('last line', 'last  line'));
  t.notOk(accepts(readFileSync(moved), [keyring(ed)]), 'an inner space added: bad');
  t.notOk(gpgvAccepts(keyringFile(ed), moved), 'gpgv: bad');

  const bySub = readFileSync(sign(subPrimary, 'sub')); // gpg picks the signing subkey
  const subKeys = readKeyring([keyring(subPrimary)]);
  t.equal(subKeys.length, 1, 'only the signing subkey may sign (the primary is certify-only)');
  t.ok(accepts(bySub, [keyring(subPrimary)]), 'a signature by a cross-certified subkey');

  const byShort = readFileSync(sign(`${short}!`, 'short'));
  t.ok(accepts(byShort, [keyring(short)]), 'a key that expires tomorrow is good today');
  t.throws(() => verifyCleartext(byShort, readKeyring([keyring(short)]), NOW + 3 * 86_400, 'm'), { message: /the key expired on/ }, 'and refused after it expired');

  const byRevoked = readFileSync(sign(`${revoked}!`, 'revoked'));
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(home, ['--with-colons', '--list-keys', 'rev@test.invalid']))![1]!;
  const revocation = readFileSync(join(home, 'openpgp-revocs.d', `${fpr}.rev`), 'latin1').replace(/^:-----BEGIN/m, '-----BEGIN');
  writeFileSync(join(work, 'rev.asc'), revocation);
  gpg(home, ['--import', join(work, 'rev.asc')]);
  t.throws(() => verifyCleartext(byRevoked, readKeyring([keyring(revoked)]), NOW, 'm'), { message: /the key is revoked/ });
  t.notOk(gpgvAccepts(keyringFile(revoked), join(work, 'revoked')), 'gpgv refuses the revoked key too');

  const armour = message.toString('latin1');
  const sumLine = /^=[A-Za-z0-9+/]{4}$/m.exec(armour)![0];
  const badSum = armour.replace(sumLine, sumLine === '=AAAA' ? '=AAAB' : '=AAAA');
  t.throws(() => verifyCleartext(Buffer.from(badSum, 'latin1'), readKeyring([keyring(ed)]), NOW, 'm'), { message: /CRC-24/ }, 'a damaged armour checksum');
  t.throws(() => verifyCleartext(Buffer.from(`junk\n${armour}`, 'latin1'), readKeyring([keyring(ed)]), NOW, 'm'), { message: /does not start with/ }, 'text before the signed message');

  // Hostile bytes: any one byte of the message or of the key changed is refused with an
  // InfraError (or, where the byte is outside what is signed and parsed, still verifies).
  const keys = keyring(ed);
  let refused = 0;
  const odd: string[] = [];
  const textStart = message.indexOf('\n\n') + 2;
  const textEnd = message.indexOf('-----BEGIN PGP SIGNATURE-----');
  const acceptedInText: number[] = [];
  for (let i = 0; i < 400; i++) {
    const victim = i % 2 === 0 ? Buffer.from(message) : Buffer.from(keys);
    const at = (i * 7919) % victim.length;
    victim[at] = victim[at]! ^ (1 << (i % 8));
    try {
      verifyCleartext(i % 2 === 0 ? victim : message, readKeyring([i % 2 === 0 ? keys : victim]), NOW, 'm');
      if (i % 2 === 0 && at >= textStart && at < textEnd) acceptedInText.push(at);
    } catch (err) {
      if ((err as { code?: string }).code === undefined) odd.push(`${i}: ${(err as Error).message}`);
      refused++;
    }
  }
  t.same(odd, [], 'every refusal is an InfraError');
  t.same(acceptedInText, [], 'no change inside the signed text is accepted');
  t.ok(refused > 300, `most single-bit changes are refused (${refused} of 400)`);
});

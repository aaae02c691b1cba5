/**
 * APKINDEX trust: signatures by keys of the image's /etc/apk/keys (SHA-1 and SHA-256
 * forms, several signatures of which one is enough), refusals of an unknown key, a bad
 * signature and an unsigned index; then the records parsed field by field.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readApkIndex } from '../../src/packages/apk/apkindex.js';
import { readApkKeys } from '../../src/packages/apk/trust.js';
import { buildApk, buildIndex, indexRecord, makeApkKey, q1, type ApkKey } from './apk-repo-fixture.js';
import { baseFromDir } from './deb-repo-fixture.js';

const trusted = makeApkKey('test@example.invalid-5f0c2a1b.rsa.pub');
const stranger = makeApkKey('stranger@example.invalid-1234abcd.rsa.pub');
const app = buildApk({ name: 'app', version: '1.2.3-r1', depends: ['so:libfoo.so.1', 'cmd:sh', '!legacy<2', 'base>=1.0'], provides: ['cmd:app=1.2.3-r1', 'virtual-app'], installIf: ['app-base', 'docs'], providerPriority: 10 }, trusted);
const records = [indexRecord(app), indexRecord(buildApk({ name: 'base', version: '1.0-r0' }, trusted))];

async function keysOf(t: { testdir(): string }, keys: readonly ApkKey[]) {
  const dir = t.testdir();
  mkdirSync(join(dir, 'etc/apk/keys'), { recursive: true });
  for (const key of keys) writeFileSync(join(dir, 'etc/apk/keys', key.name), key.publicPem);
  const base = await baseFromDir(dir);
  return readApkKeys({ root: base.tree, readFile: base.readFile });
}

t.test('a signed index is read, its records field by field', async (t) => {
  const keys = await keysOf(t, [trusted]);
  const entries = await readApkIndex(buildIndex(records, [trusted]), keys, 'http://repo.invalid/main', 'the test index');
  t.equal(entries.length, 2);
  const entry = entries[0]!;
  t.match(entry, { name: 'app', version: '1.2.3-r1', arch: 'x86_64', size: app.file.length, providerPriority: 10, repository: 'http://repo.invalid/main' });
  t.equal(`Q1${entry.controlSha1.toString('base64')}`, q1(app.control), 'C: is the SHA-1 of the control member');
  t.same(entry.depends, [
    { name: 'so:libfoo.so.1', conflict: false },
    { name: 'cmd:sh', conflict: false },
    { name: 'legacy', conflict: true, version: { op: '<', version: '2' } },
    { name: 'base', conflict: false, version: { op: '>=', version: '1.0' } },
  ]);
  t.same(entry.provides, [{ name: 'cmd:app', version: '1.2.3-r1' }, { name: 'virtual-app' }]);
  t.same(entry.installIf.map((d) => d.name), ['app-base', 'docs']);
  t.same(entry.fields.slice(0, 3), [['C', q1(app.control)], ['P', 'app'], ['V', '1.2.3-r1']], 'fields kept as written, in order');
});

t.test('SHA-256 signatures, and one good signature among others is enough', async (t) => {
  const keys = await keysOf(t, [trusted]);
  t.equal((await readApkIndex(buildIndex(records, [trusted], 'sha256'), keys, '', 'the index')).length, 2);
  t.equal((await readApkIndex(buildIndex(records, [stranger, trusted]), keys, '', 'the index')).length, 2);
});

t.test('refusals', async (t) => {
  const keys = await keysOf(t, [trusted]);
  await t.rejects(readApkIndex(buildIndex(records, [stranger]), keys, '', 'the index'), {
    code: 'INTEGRITY',
    message: /the index is not trusted: the key stranger@example\.invalid-1234abcd\.rsa\.pub is not in \/etc\/apk\/keys/,
  });
  const index = buildIndex(records, [trusted]);
  const tampered = buildIndex([indexRecord(buildApk({ name: 'evil', version: '6.6.6-r0' }, trusted))], []);
  const signatureEnd = index.length - buildIndex(records, []).length;
  await t.rejects(readApkIndex(Buffer.concat([index.subarray(0, signatureEnd), tampered]), keys, '', 'the index'), {
    code: 'INTEGRITY',
    message: /the signature by test@example\.invalid-5f0c2a1b\.rsa\.pub \(sha1\) does not verify/,
  });
  await t.rejects(readApkIndex(buildIndex(records, []), keys, '', 'the index'), { code: 'INTEGRITY', message: /the index is not trusted: it is not signed/ });
  await t.rejects(readApkIndex(index.subarray(0, index.length - 20), keys, '', 'the index'), { code: 'INTEGRITY' }, 'a cut index fails its signature');
  await t.rejects(readApkIndex(Buffer.from('not gzip'), keys, '', 'the index'), { code: 'PACKAGE', message: /no gzip member at byte 0/ });
});

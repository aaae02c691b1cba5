/**
 * apk resolution: so: and cmd: providers, versioned and unversioned provides,
 * provider_priority, install_if, !conflicts, what is installed, and the chain in the
 * error of an unsatisfiable dependency.
 */
import t from 'tap';
import { apkEntry, parseRecords } from '../../src/packages/apk/apkindex.js';
import { ApkUniverse, chooseApks } from '../../src/packages/apk/resolve.js';
import { buildApk, indexRecord, makeApkKey, type ApkSpec } from './apk-repo-fixture.js';

const key = makeApkKey('test.rsa.pub');
const entry = (spec: ApkSpec) => apkEntry(parseRecords(indexRecord(buildApk(spec, key)), 'test')[0]!, 'http://repo.invalid', 'test');

const busybox = entry({ name: 'busybox', version: '1.36.1-r29', provides: ['cmd:sh=1.36.1-r29', '/bin/sh'] });
const repo = [
  entry({ name: 'libfoo', version: '1.2-r0', provides: ['so:libfoo.so.1=1.2'] }),
  entry({ name: 'libfoo', version: '1.1-r0', provides: ['so:libfoo.so.1=1.1'] }),
  entry({ name: 'app', version: '2.0-r3', depends: ['so:libfoo.so.1', 'cmd:sh'] }),
  entry({ name: 'app-doc', version: '2.0-r3', installIf: ['app=2.0-r3', 'docs'] }),
  entry({ name: 'docs', version: '1-r0' }),
  entry({ name: 'tls-a', version: '3.0-r0', provides: ['tls-impl'], providerPriority: 10 }),
  entry({ name: 'tls-b', version: '1.0-r0', provides: ['tls-impl'], providerPriority: 100 }),
  entry({ name: 'needs-tls', version: '1-r0', depends: ['tls-impl'] }),
  entry({ name: 'needs-new-tls', version: '1-r0', depends: ['tls-impl>=2'] }),
  entry({ name: 'old-app', version: '1-r0', depends: ['!libfoo'] }),
  entry({ name: 'broken', version: '1-r0', depends: ['app', 'so:libmissing.so.1'] }),
  entry({ name: 'wants-old', version: '1-r0', depends: ['libfoo<1.2'] }),
];
const universe = new ApkUniverse(repo, [busybox]);
const names = (list: { name: string; version: string }[]) => list.map((e) => `${e.name}-${e.version}`);

t.test('so: and cmd: providers, dependencies first, installed packages kept', async (t) => {
  t.same(names(chooseApks(universe, ['app'])), ['libfoo-1.2-r0', 'app-2.0-r3'], 'the newest so: provider; cmd:sh from the installed busybox');
  t.same(names(chooseApks(universe, ['so:libfoo.so.1<1.2'])), ['libfoo-1.1-r0'], 'a versioned dependency on a versioned provide');
  t.same(names(chooseApks(universe, ['busybox'])), [], 'installed');
  t.same(names(chooseApks(universe, ['wants-old', 'app'])), ['libfoo-1.1-r0', 'wants-old-1-r0', 'app-2.0-r3'], 'a chosen version serves later needs');
});

t.test('provider_priority, and unversioned provides', async (t) => {
  t.same(names(chooseApks(universe, ['needs-tls'])), ['tls-b-1.0-r0', 'needs-tls-1-r0'], 'the higher provider_priority wins over the newer version');
  await t.throws(() => chooseApks(universe, ['needs-new-tls']), { code: 'PACKAGE', message: /cannot install needs-new-tls-1-r0 → tls-impl>=2: no package provides it/ });
});

t.test('install_if', async (t) => {
  t.same(names(chooseApks(universe, ['app'])).includes('app-doc-2.0-r3'), false, 'not without docs');
  t.same(names(chooseApks(universe, ['app', 'docs'])), ['libfoo-1.2-r0', 'app-2.0-r3', 'docs-1-r0', 'app-doc-2.0-r3']);
});

t.test('conflicts and unsatisfiable chains', async (t) => {
  t.throws(() => chooseApks(universe, ['old-app', 'app']), { code: 'PACKAGE', message: /old-app 1-r0 conflicts with libfoo 1\.2-r0 \(!libfoo\)/ });
  t.same(names(chooseApks(universe, ['old-app'])), ['old-app-1-r0']);
  t.throws(() => chooseApks(universe, ['broken']), { code: 'PACKAGE', message: /cannot install broken-1-r0 → so:libmissing\.so\.1: no package provides it/ });
  t.throws(() => chooseApks(universe, ['wants-old', 'libfoo>=1.2']), { code: 'PACKAGE', message: /libfoo>=1\.2: it needs libfoo 1\.2-r0, but libfoo 1\.1-r0 is chosen or installed/ });
  t.throws(() => chooseApks(universe, ['!x']), { code: 'USAGE' });
});

/**
 * The repository side against a signed repository built offline with the real tools and
 * served from 127.0.0.1: trust (bad signature, unknown key, expired key, stale
 * Valid-Until), index and .deb integrity, and resolution (alternatives, versioned
 * Provides, Pre-Depends order, upgrades of the base, conflicts, unsatisfiable chains).
 */
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { resolveDebs, type ResolveDebsOptions } from '../../src/packages/deb/resolve.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { REPO_TOOLS, baseFromDir, buildRepository, exportKey, makeKey, serveRepository, signRelease, statusStanza, type DebSpec } from './deb-repo-fixture.js';

const DEBS: DebSpec[] = [
  { name: 'app', version: '1.0', fields: { 'Pre-Depends': 'early', Depends: 'libneeded (>= 2.0), missing-thing | alt-real, vprov (>= 1.5), already (>= 1.0), tool:any' } },
  { name: 'early', version: '1:0.5-1' },
  { name: 'libneeded', version: '1.0' },
  { name: 'libneeded', version: '2.1~rc1' },
  { name: 'libneeded', version: '2.0+b1', arch: 'amd64' },
  { name: 'alt-real', version: '1.0' },
  { name: 'oldprov', version: '1.0', fields: { Provides: 'vprov' } },
  { name: 'provider', version: '1.0', fields: { Provides: 'vprov (= 2.0)' } },
  { name: 'tool', version: '3.0', arch: 'amd64', fields: { 'Multi-Arch': 'allowed' } },
  { name: 'broken', version: '1.0', fields: { Depends: 'middle' } },
  { name: 'middle', version: '1.0', fields: { Depends: 'libneeded (>= 9)' } },
  { name: 'clash', version: '1.0', fields: { Depends: 'app, victim' } },
  { name: 'victim', version: '1.0', fields: { Conflicts: 'alt-real' } },
  { name: 'breaks-base', version: '1.0', fields: { Breaks: 'already (<< 2)' } },
  { name: 'wants-any', version: '1.0', fields: { Depends: 'plain:any' } },
  { name: 'plain', version: '1.0', arch: 'amd64' },
  { name: 'uses-lib', version: '1.1', fields: { Depends: 'libneeded (>= 2.0)' } },
  { name: 'newlib', version: '1.0', fields: { Breaks: 'oldtool (<< 2)' } },
  { name: 'oldtool', version: '2.0' },
  { name: 'stuck', version: '1.0', fields: { Breaks: 'pinned (<< 2)' } },
];

if (prerequisites(t, { tools: REPO_TOOLS })) {
  const work = tempDir(t, 'infra-op-debrepo-');
  const home = join(work, 'gnupg');
  const edKey = makeKey(home, 'Repo Ed25519 <ed@test.invalid>', 'ed25519');
  const rsaKey = makeKey(home, 'Repo RSA <rsa@test.invalid>', 'rsa3072');
  const strangerHome = join(work, 'stranger');
  const stranger = makeKey(strangerHome, 'Stranger <s@test.invalid>', 'ed25519');

  const repo = join(work, 'repo');
  buildRepository(repo, DEBS);
  signRelease(repo, home, [rsaKey, edKey]);
  const staleRepo = join(work, 'stale');
  buildRepository(staleRepo, DEBS.slice(0, 1), ['Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC']);
  signRelease(staleRepo, home, [edKey]);
  const xzRepo = join(work, 'xz');
  buildRepository(xzRepo, DEBS.slice(0, 2), [], 'xz');
  signRelease(xzRepo, home, [edKey]);
  const served = await serveRepository(work);
  t.teardown(() => served.server.close());

  /** A base tree trusting `keys` (armoured files in trusted.gpg.d) with a dpkg status. */
  const makeBase = async (name: string, keys: Buffer[], sourcesLine: string) => {
    const dir = join(work, name);
    mkdirSync(join(dir, 'etc/apt/trusted.gpg.d'), { recursive: true });
    mkdirSync(join(dir, 'var/lib/dpkg'), { recursive: true });
    keys.forEach((k, i) => writeFileSync(join(dir, `etc/apt/trusted.gpg.d/key${i}.asc`), k));
    writeFileSync(join(dir, 'etc/apt/sources.list'), `# the test repository\n${sourcesLine}\n`);
    writeFileSync(
      join(dir, 'var/lib/dpkg/status'),
      [
        statusStanza('already', '1.5'),
        statusStanza('libneeded', '1.0'),
        statusStanza('uses-lib', '1.0', { Depends: 'libneeded (<< 2)' }),
        statusStanza('oldtool', '1.5'),
        statusStanza('pinned', '1.0'),
        statusStanza('gone', '1.0', { Status: 'deinstall ok config-files' }),
      ].join('\n'),
    );
    return baseFromDir(dir);
  };
  const base = await makeBase('base', [exportKey(home, edKey)], `deb ${served.url}/repo test main`);
  const cacheDir = join(work, 'cache');
  const run = (packages: ResolveDebsOptions['packages'], extra: Partial<ResolveDebsOptions> = {}) => resolveDebs({ ...base, packages, arch: 'amd64', cacheDir, ...extra });

  t.test('resolution: alternatives, versioned Provides, :any, upgrades of the base, Pre-Depends first', async (t) => {
    const debs = await run(['app']);
    t.same(
      debs.map((d) => `${d.stanza.package}=${d.stanza.version}`),
      ['early=1:0.5-1', 'libneeded=2.1~rc1', 'alt-real=1.0', 'provider=1.0', 'tool=3.0', 'app=1.0', 'uses-lib=1.1'],
      'libneeded upgraded to its highest version (2.1~rc1 > 2.0+b1), and uses-lib with it (its 1.0 needed libneeded << 2); missing-thing skipped for alt-real, the versioned provider chosen, installed "already" kept',
    );
    for (const deb of debs) {
      const bytes = readFileSync(deb.file);
      t.equal(bytes.length, Number(deb.stanza.fields.get('Size')), `${deb.stanza.package}: the cached file has the indexed size`);
      t.equal(bytes.subarray(0, 8).toString('latin1'), '!<arch>\n', `${deb.stanza.package}: an ar archive`);
    }
    t.equal(debs[0]!.stanza.fields.get('Filename'), 'pool/main/early_0.5-1_all.deb', 'stanza fields as written');
    t.same(await run(['already']), [], 'an installed package with no newer version needs nothing');
    t.same((await run(['libneeded'])).map((d) => `${d.stanza.package}=${d.stanza.version}`), ['libneeded=2.1~rc1', 'uses-lib=1.1'], 'an installed package asked for is upgraded to its candidate, and what it would break with it');
  });

  t.test('unsatisfiable and conflicting dependencies name the chain', async (t) => {
    await t.rejects(run(['broken']), { code: 'NOT_FOUND', message: /cannot install broken \(1\.0\) → middle \(1\.0\): needs libneeded \(>= 9\), but libneeded \(>= 9\): the repositories have version 2\.1~rc1/ });
    await t.rejects(run(['clash']), { message: /clash \(1\.0\).*victim.*conflicts with alt-real \(1\.0\) \(it declares alt-real\)/ });
    t.same((await run(['newlib'])).map((d) => `${d.stanza.package}=${d.stanza.version}`), ['oldtool=2.0', 'newlib=1.0'], 'a base package that newlib breaks is upgraded first');
    await t.rejects(run(['stuck']), { message: /cannot install stuck \(1\.0\): conflicts with pinned \(1\.0\) \(it declares pinned \(<< 2\)\)/ }, 'and refused where no newer version exists');
    await t.rejects(run(['breaks-base']), { message: /breaks-base \(1\.0\).*conflicts with already \(1\.5\) \(it declares already \(<< 2\)\)/ });
    await t.rejects(run(['wants-any']), { message: /plain:any: the repositories have version 1\.0, not Multi-Arch: allowed/ });
    await t.rejects(run(['ap']), { code: 'NOT_FOUND', message: /no package named "ap" in the repositories \(nearest: app/ });
    t.same((await run([['alt-rea', 'alt-real']])).map((d) => d.stanza.package), ['alt-real'], 'a request with a fallback: the first name the repositories have');
    t.same(await run([['already', 'early']]), [], 'or the base has');
    await t.rejects(run([['ap', 'erly']]), { code: 'NOT_FOUND', message: /no package named "ap" or "erly" in the repositories \(nearest: app, early\)/ }, 'neither: both named, and the names near either');
  });

  t.test('trust: a signature by a key the base does not trust is refused, naming the key', async (t) => {
    const untrusting = await makeBase('untrusting', [exportKey(strangerHome, stranger)], `deb ${served.url}/repo test main`);
    await t.rejects(resolveDebs({ ...untrusting, packages: ['app'], arch: 'amd64', cacheDir }), { code: 'INTEGRITY', message: new RegExp(`key ${rsaKey} is not in the keyring; key ${edKey} is not in the keyring`) });
    const empty = await makeBase('empty', [], `deb ${served.url}/repo test main`);
    await t.rejects(resolveDebs({ ...empty, packages: ['app'], arch: 'amd64', cacheDir }), { code: 'INPUT', message: /no usable signing keys/ });
    const rsaOnly = await makeBase('rsa-only', [exportKey(home, rsaKey, false)], `deb ${served.url}/repo test main`);
    t.equal((await resolveDebs({ ...rsaOnly, packages: ['early'], arch: 'amd64', cacheDir }))[0]!.stanza.package, 'early', 'the RSA signature alone, from a binary keyring');
  });

  t.test('trust: a tampered InRelease and a stale Valid-Until are refused', async (t) => {
    const inRelease = readFileSync(join(repo, 'dists/test/InRelease'), 'latin1');
    served.overrides.set('/repo/dists/test/InRelease', Buffer.from(inRelease.replace('Suite: test', 'Suite: tesT'), 'latin1'));
    t.teardown(() => served.overrides.clear());
    await t.rejects(run(['app']), { code: 'INTEGRITY', message: new RegExp(`key ${edKey}: the signature does not verify`) });
    served.overrides.clear();
    await t.rejects(run(['app'], { sources: [`deb ${served.url}/stale test main`] }), { code: 'INTEGRITY', message: /expired on 2000-01-01T00:00:00\.000Z \(Valid-Until\)/ });
    await t.rejects(run(['app'], { now: new Date(Date.now() - 86_400_000) }), { message: /the signature was made in the future/ }, 'a signature newer than the clock is refused');
  });

  t.test('integrity: a Packages index or .deb unlike the signed hashes is refused', async (t) => {
    const packages = readFileSync(join(repo, 'dists/test/main/binary-amd64/Packages'), 'latin1');
    served.overrides.set('/repo/dists/test/main/binary-amd64/Packages.gz', gzipSync(Buffer.from(packages.replace('Version: 1.0', 'Version: 9.0'), 'latin1')));
    t.teardown(() => served.overrides.clear());
    await t.rejects(run(['app']), { code: 'INTEGRITY', message: /Packages does not match the signed index/ });
    served.overrides.clear();
    const deb = readFileSync(join(repo, 'pool/main/alt-real_1.0_all.deb'));
    const damaged = Buffer.from(deb);
    damaged[damaged.length - 1] ^= 0xff;
    served.overrides.set('/repo/pool/main/alt-real_1.0_all.deb', damaged);
    await t.rejects(run(['alt-real'], { cacheDir: join(work, 'fresh-cache') }), { code: 'INTEGRITY', message: /alt-real_1\.0_all\.deb is corrupt: digest sha256:[0-9a-f]{64} instead of/ });
  });

  t.test('an index published as xz only', async (t) => {
    const debs = await run(['app'], { sources: [`deb ${served.url}/xz test main`] }).catch((e: Error) => e.message);
    t.match(debs, /needs libneeded \(>= 2\.0\)/, 'read through Packages.xz: app is there, its dependencies are not');
    t.ok(served.requests.includes('/xz/dists/test/main/binary-amd64/Packages.xz'), 'the xz index was fetched');
    t.same((await run(['early'], { sources: [`deb ${served.url}/xz test main`] })).map((d) => d.stanza.version), ['1:0.5-1']);
  });

  t.test('sources: deb822 with Signed-By (a path or an inline key), one-line signed-by, unsupported kinds', async (t) => {
    const dir = join(work, 'deb822');
    mkdirSync(join(dir, 'etc/apt/sources.list.d'), { recursive: true });
    mkdirSync(join(dir, 'usr/share/keyrings'), { recursive: true });
    writeFileSync(join(dir, 'usr/share/keyrings/test.gpg'), exportKey(home, rsaKey, false));
    const inline = exportKey(home, edKey).toString('utf8').trimEnd().split('\n').map((l) => (l === '' ? ' .' : ` ${l}`)).join('\n');
    writeFileSync(
      join(dir, 'etc/apt/sources.list.d/test.sources'),
      [`# disabled`, `Types: deb`, `URIs: ${served.url}/nowhere`, `Suites: test`, `Components: main`, `Enabled: no`, ``,
        `Types: deb deb-src`, `URIs: ${served.url}/repo`, `Suites: test`, `Components: main`, `Signed-By: /usr/share/keyrings/test.gpg`, ``].join('\n'),
    );
    const byPath = await baseFromDir(dir);
    t.same((await resolveDebs({ ...byPath, packages: ['early'], arch: 'amd64', cacheDir })).map((d) => d.stanza.package), ['early'], 'Signed-By names a binary keyring in the tree');
    writeFileSync(join(dir, 'etc/apt/sources.list.d/test.sources'), [`Types: deb`, `URIs: ${served.url}/repo`, `Suites: test`, `Components: main`, `Signed-By:`, inline, ``].join('\n'));
    const byInline = await baseFromDir(dir);
    t.same((await resolveDebs({ ...byInline, packages: ['early'], arch: 'amd64', cacheDir })).map((d) => d.stanza.package), ['early'], 'an inline key block');
    const line = (l: string) => resolveDebs({ ...byInline, sources: [l], packages: ['early'], arch: 'amd64', cacheDir });
    t.same((await line(`deb [arch=amd64 signed-by=/usr/share/keyrings/test.gpg] ${served.url}/repo test main`)).length, 1, 'a one-line source with signed-by');
    await t.rejects(line(`deb [signed-by=/usr/share/keyrings/missing.gpg] ${served.url}/repo test main`), { code: 'INPUT', message: /keyring \/usr\/share\/keyrings\/missing\.gpg named by Signed-By is not in the base image/ });
    await t.rejects(line('deb file:/srv/repo test main'), { message: /not http or https/ });
    await t.rejects(line(`deb ${served.url}/repo ./`), { message: /flat repository/ });
    await t.rejects(line(`deb [signed-by=/usr/share/keyrings/test.gpg] ${served.url}/repo other main`), { code: 'NOT_FOUND', message: /InRelease file of .* other could not be fetched .*HTTP 404/ });
  });
}

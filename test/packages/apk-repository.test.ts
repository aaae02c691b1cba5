/**
 * The whole library path against a test repository served on 127.0.0.1: the image's
 * /etc/apk/repositories and keys, the signed index fetched and verified, resolution
 * (an so: provider, a cmd: dependency on the installed busybox, an install_if), the
 * downloads and their installation; a tampered package on the server is refused.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apkEntry, parseRecords } from '../../src/packages/apk/apkindex.js';
import { ApkDatabase, INSTALLED } from '../../src/packages/apk/db.js';
import { apkArch, apkRepositories, downloadApks, readRepositories } from '../../src/packages/apk/repositories.js';
import { ApkUniverse, chooseApks } from '../../src/packages/apk/resolve.js';
import { readApkKeys } from '../../src/packages/apk/trust.js';
import { ApkInstaller } from '../../src/packages/apk/unpack.js';
import { HttpClient } from '../../src/image/registry/http.js';
import { resolvePath } from '../../src/tree/edit.js';
import { alpineDir } from '../helpers/boot.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { ARCH, buildApk, makeApkKey, writeRepository } from './apk-repo-fixture.js';
import { baseFromDir, serveRepository } from './deb-repo-fixture.js';

const key = makeApkKey('test@example.invalid-5f0c2a1b.rsa.pub');
const apks = [
  buildApk({ name: 'libfoo', version: '1.2-r0', provides: ['so:libfoo.so.1=1.2'] }, key),
  buildApk({ name: 'app', version: '2.0-r3', depends: ['so:libfoo.so.1', 'cmd:sh'], scripts: { '.post-install': '#!/bin/sh\n' } }, key),
  buildApk({ name: 'app-bash-completion', version: '2.0-r3', installIf: ['app=2.0-r3', 'bash-completion'] }, key),
  buildApk({ name: 'bash-completion', version: '2.14-r0' }, key),
];

t.test('index, resolution, downloads and installation', async (t) => {
  const scratch = t.testdir();
  const root = join(scratch, 'repo');
  writeRepository(root, apks, key);
  const served = await serveRepository(root);
  t.teardown(() => served.server.close());
  const dir = alpineDir(scratch);
  writeFileSync(join(dir, 'etc/apk/keys', key.name), key.publicPem);
  writeFileSync(join(dir, 'etc/apk/repositories'), `# test\n${served.url}/\n\n`);
  const base = await baseFromDir(dir);
  const files = { root: base.tree, readFile: base.readFile };
  const http = new HttpClient();
  t.teardown(() => http.close());
  const downloads = mkdtempSync(join(tmpdir(), 'apk-downloads-'));
  t.teardown(() => rmSync(downloads, { recursive: true, force: true }));

  const repositories = apkRepositories(files);
  t.same(repositories, [served.url]);
  t.equal(apkArch(files), ARCH);
  const available = await readRepositories(http, repositories, readApkKeys(files), ARCH);
  t.same(available.map((e) => e.name), ['libfoo', 'app', 'app-bash-completion', 'bash-completion']);
  const db = await ApkDatabase.read(files);
  const installed = parseRecords(base.readFile(INSTALLED)!.toString('utf8'), INSTALLED).map((r) => apkEntry(r, '', INSTALLED));
  const chosen = chooseApks(new ApkUniverse(available, installed), ['app', 'bash-completion']);
  t.same(chosen.map((e) => e.name), ['libfoo', 'app', 'bash-completion', 'app-bash-completion']);

  const resolved = await downloadApks(http, chosen, ARCH, downloads);
  t.ok(served.requests.includes(`/${ARCH}/libfoo-1.2-r0.apk`));
  const installer = new ApkInstaller(base.tree, new MemorySink(), db);
  for (const apk of resolved) await installer.install(apk);
  t.equal(resolvePath(base.tree, '/usr/share/app-bash-completion/README')?.inode?.kind, 'file');
  t.equal(db.owner('/usr/share/libfoo/README'), 'libfoo');

  served.overrides.set(`/${ARCH}/libfoo-1.2-r0.apk`, buildApk({ name: 'libfoo', version: '1.2-r0', provides: ['so:libfoo.so.1=1.2'], files: [{ path: 'evil', data: 'x' }] }, key).file);
  const [tampered] = await downloadApks(http, chosen.slice(0, 1), ARCH, downloads);
  await t.rejects(installer.install(tampered!), { code: 'INTEGRITY' }, 'a package the index does not vouch for');
});

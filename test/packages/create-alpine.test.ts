/**
 * createRootfs on the Alpine 3.20 minirootfs (as a `tar:` rootfs tarball) with packages
 * from a test apk repository on 127.0.0.1: the language table's Alpine names, an `so:`
 * dependency, a package with a `.post-install` reported unconfigured; the ext4 image passes
 * e2fsck and holds the files, /lib/apk/db/installed, scripts.tar and /etc/apk/world.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRootfs } from '../../src/api/create.js';
import { ALPINE_X86, debugfs, fsck, prerequisites, tempDir } from '../helpers/env.js';
import { alpineDir } from '../helpers/boot.js';
import { buildApk, makeApkKey, writeRepository } from './apk-repo-fixture.js';
import { serveRepository } from './deb-repo-fixture.js';

const key = makeApkKey('test@example.invalid-6a1d0e2c.rsa.pub');
const apks = [
  buildApk({ name: 'libbashtest', version: '1.0-r0', provides: ['so:libbashtest.so.1=1.0'] }, key),
  buildApk({ name: 'bash', version: '5.2.26-r0', depends: ['so:libbashtest.so.1'], files: [{ path: 'usr' }, { path: 'usr/bin' }, { path: 'usr/bin/bash-test', data: '#!/bin/sh\necho bash\n', mode: 0o755 }] }, key),
  buildApk({ name: 'ca-certificates', version: '20240705-r0', scripts: { '.post-install': '#!/bin/sh\nupdate-ca-certificates\n' } }, key),
  buildApk({ name: 'extra', version: '0.1-r0' }, key),
];

t.test('create --lang bash on the Alpine minirootfs from a test repository', async (t) => {
  if (!prerequisites(t, { tools: ['e2fsck', 'debugfs', 'tar'], files: [ALPINE_X86] })) return;
  const work = tempDir(t);
  const repo = join(work, 'repo');
  writeRepository(repo, apks, key);
  const served = await serveRepository(repo);
  t.teardown(() => served.server.close());
  const dir = alpineDir(work);
  writeFileSync(join(dir, 'etc/apk/keys', key.name), key.publicPem);
  const tarball = join(work, 'alpine.tar');
  execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', tarball, '.']);

  const steps: string[] = [];
  const warnings: string[] = [];
  const result = await createRootfs({
    lang: 'bash',
    base: `tar:${tarball}`,
    packages: ['extra'],
    repositories: [served.url],
    size: 64,
    output: join(work, 'rootfs-bash.ext4'),
    cacheDir: join(work, 'apks'),
    env: { SOURCE_DATE_EPOCH: '1700000000' },
    onEvent: (event) => {
      if (event.type === 'step') steps.push(event.step);
      if (event.type === 'warning') warnings.push(event.text);
    },
  });
  t.same(steps, ['pull', 'repositories', 'resolve', 'fetch', 'unpack', 'configure', 'boot', 'write']);
  t.same(result.packages.map((p) => p.package), ['libbashtest', 'bash', 'ca-certificates', 'extra'], 'dependencies first');
  t.same(result.configuration.unconfigured, [{ package: 'ca-certificates', steps: ['post-install'] }]);
  t.match(warnings.join('\n'), /ca-certificates \(post-install\)/, 'the package whose script did not run is named');
  t.ok(existsSync(join(work, 'apks', 'bash-5.2.26-r0.apk')), 'downloads kept in the cache');
  t.ok(served.requests.includes('/x86_64/APKINDEX.tar.gz'));

  const check = fsck(result.path);
  t.ok(check.ok, check.output);
  t.match(debugfs(result.path, 'cat /usr/bin/bash-test'), /echo bash/);
  const installed = debugfs(result.path, 'cat /lib/apk/db/installed');
  t.match(installed, /^P:musl$/m, "the base's packages kept");
  t.match(installed, /^P:bash\nV:5\.2\.26-r0$/m);
  t.match(installed, /^F:usr\/bin\nR:bash-test\na:0:0:755\nZ:Q1/m, 'the file with its checksum');
  const world = debugfs(result.path, 'cat /etc/apk/world');
  for (const name of ['alpine-baselayout', 'bash', 'ca-certificates', 'extra']) t.match(world, new RegExp(`^${name}$`, 'm'), `${name} in world`);
  t.match(debugfs(result.path, 'ls -l /lib/apk/db'), /scripts\.tar/);
  t.ok(result.boot.service, 'the guest runner service is installed');
});

t.test('an unreachable repository is named, nothing left at the output', async (t) => {
  if (!prerequisites(t, { tools: ['tar'], files: [ALPINE_X86] })) return;
  const work = tempDir(t);
  const served = await serveRepository(join(work, 'nothing'));
  served.server.close();
  const output = join(work, 'out.ext4');
  await t.rejects(
    createRootfs({ lang: 'bash', base: `tar:${ALPINE_X86}`, repositories: [served.url], size: 64, output, cacheDir: join(work, 'apks') }),
    { message: new RegExp(served.url.replace(/\./g, '\\.')) },
  );
  t.notOk(existsSync(output));
});

/**
 * createRootfs from a debootstrap base (as a `tar:` rootfs tarball) with the python3
 * closure handed in by a resolver that serves the archive's .debs as apt resolves them
 * (the repository side's resolver is tested on its own): the ext4 image passes e2fsck and
 * holds python3, its dpkg status, and the boot setup.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createRootfs, type DebRequest } from '../../src/api/create.js';
import { fsck, debugfs, prerequisites, tempDir } from '../helpers/env.js';
import { debianMinbaseDir } from '../helpers/boot.js';
import { archiveClosure } from './deb-fixtures.js';

t.test('create --lang python on a debian tarball, with the packages handed in', async (t) => {
  if (!prerequisites(t, { tools: ['debootstrap', 'apt-get', 'dpkg-deb', 'e2fsck', 'debugfs', 'tar'] })) return;
  const work = tempDir(t);
  const base = debianMinbaseDir();
  const tarball = join(work, 'debian.tar');
  execFileSync('tar', ['-C', base, '--numeric-owner', '-cf', tarball, '.']);
  const debs = archiveClosure(base, ['python3']);
  const asked: DebRequest[] = [];
  let baseStatus = '';
  const steps: string[] = [];
  const result = await createRootfs({
    lang: 'python',
    base: `tar:${tarball}`,
    size: 600,
    output: join(work, 'rootfs-python.ext4'),
    env: { SOURCE_DATE_EPOCH: '1700000000' },
    onEvent: (event) => event.type === 'step' && steps.push(event.step),
    resolve: async (request) => {
      asked.push(request);
      baseStatus = request.readFile('/var/lib/dpkg/status')?.toString('utf8') ?? '';
      return debs;
    },
  });
  t.same(asked[0]?.packages, ['python3', 'ca-certificates'], 'the language table, plus ca-certificates');
  t.match(baseStatus, /^Package: libc6$/m, "the resolver can read the base's dpkg status");
  t.same(steps, ['pull', 'unpack', 'configure', 'boot', 'write'], 'the steps in order (the resolver reports repositories, resolve and fetch)');
  t.equal(result.packages.length, debs.length);
  const check = fsck(result.path);
  t.ok(check.ok, check.output);
  t.match(debugfs(result.path, 'stat /usr/bin/python3.11'), /Type: regular/, 'python3.11 is in the image');
  const status = debugfs(result.path, 'cat /var/lib/dpkg/status');
  t.match(status, /^Package: python3\nStatus: install ok unpacked$/m, 'python3 recorded as unpacked');
  t.match(status, /^Package: libc6\nStatus: install ok installed$/m, 'the base entries kept');
  t.match(debugfs(result.path, 'cat /var/lib/dpkg/info/python3.list'), /^\/usr\/share\/doc\/python3$/m);
  t.match(debugfs(result.path, 'stat /lib'), /Type: symlink/, 'merged /usr kept');
  t.ok(result.boot.service, 'the guest runner service is installed');
});

/**
 * End to end, with the repository side (src/packages/deb/resolve.ts): `rootfs create
 * --lang python --packages python3-six --base tar:DEBIAN.tar` against the bookworm
 * archive, then booted: `import six` works, and dpkg in the guest knows python3.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { resolveDebs } from '../../src/packages/deb/resolve.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, debianMinbaseDir, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';

t.test('create --lang python --packages python3-six boots and imports six', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'debootstrap'], files: kernelFiles() })) return;
  t.type(resolveDebs, 'function', 'the repository side is built in');
  const work = tempDir(t);
  const tarball = join(work, 'debian.tar');
  execFileSync('tar', ['-C', debianMinbaseDir(), '--numeric-owner', '-cf', tarball, '.']);
  const image = join(work, 'rootfs-python.ext4');
  const created = await runCli(
    ['rootfs', 'create', '--lang', 'python', '--packages', 'python3-six', '--base', `tar:${tarball}`, '--size', '800', '--output', image, '--json'],
    { timeoutMs: 900_000 },
  );
  if (created.status !== 0) t.comment(created.stderr.slice(-3000));
  t.equal(created.status, 0, 'create exits 0');
  t.match(created.stderr, /\[8\/8\] Writing ext4 image/);
  t.match(created.stderr, new RegExp(`Created: ${image}`));
  const code = 'python3 -c "import six; print(six.__name__)"; dpkg -s python3 | grep ^Status; dpkg -L python3 | grep -c ^/usr/share/doc/python3$';
  const run = await runCli(['rootfs', 'run', image, '--code', code, '--timeout', '60'], { timeoutMs: 600_000 });
  if (run.status !== 0) t.comment(run.stderr.slice(-3000));
  t.equal(run.status, 0);
  const result = JSON.parse(run.stdout) as { stdout: string };
  t.equal(result.stdout, 'six\nStatus: install ok unpacked\n1\n');
});

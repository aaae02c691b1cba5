/**
 * `rootfs create` through the CLI, offline: a small Debian-family base (busybox, an
 * os-release, the test key, an empty dpkg status) as a `tar:` rootfs, and a signed
 * repository of stub packages built with the real tools and served from 127.0.0.1.
 * What the command adds to the repository side: the language table, ca-certificates,
 * `--repository` replacing the base's sources, python's `python3-NAME` retry, nearest
 * names, a stale Valid-Until, `--json` and `--quiet`, and the base aliases (alpine the default). (The CLI runs
 * asynchronously: the repository is served from this process.)
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { debugfs, fsck, prerequisites, tempDir } from '../helpers/env.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { REPO_TOOLS, buildRepository, exportKey, makeKey, serveRepository, signRelease, type DebSpec } from './deb-repo-fixture.js';

const DEBS: DebSpec[] = [
  { name: 'python3', version: '3.11.2-1' },
  { name: 'ca-certificates', version: '20230311' },
  { name: 'python3-numpy', version: '1:1.24.2-1', fields: { Depends: 'python3 (>= 3.11)' } },
  { name: 'nodejs', version: '18.19.0' },
  { name: 'node-left-pad', version: '1.3.0', fields: { Depends: 'nodejs' } },
  { name: 'default-jdk-headless', version: '2:1.17-74' },
];

/** What the stdout of `create --json` holds. */
interface Created {
  path: string;
  packages: Array<{ package: string; version: string; architecture: string }>;
}

if (prerequisites(t, { tools: [...REPO_TOOLS, 'tar', 'debugfs', 'e2fsck'], files: ['/bin/busybox'] })) {
  const work = tempDir(t, 'infra-op-create-');
  const home = join(work, 'gnupg');
  const key = makeKey(home, 'Create Test <create@test.invalid>', 'ed25519');
  const repo = join(work, 'repo');
  buildRepository(repo, DEBS);
  signRelease(repo, home, [key]);
  const stale = join(work, 'stale');
  buildRepository(stale, DEBS, ['Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC']);
  signRelease(stale, home, [key]);
  const served = await serveRepository(work);
  t.teardown(() => served.server.close());

  // The base's own source leads nowhere: every run names its repository.
  const baseDir = join(work, 'base');
  for (const dir of ['bin', 'etc/apt/trusted.gpg.d', 'var/lib/dpkg', 'tmp']) mkdirSync(join(baseDir, dir), { recursive: true });
  execFileSync('cp', ['/bin/busybox', join(baseDir, 'bin/busybox')]);
  symlinkSync('busybox', join(baseDir, 'bin/sh'));
  writeFileSync(join(baseDir, 'etc/os-release'), 'PRETTY_NAME="Test"\nID=testix\nID_LIKE=debian\n');
  writeFileSync(join(baseDir, 'etc/apt/sources.list'), 'deb http://127.0.0.1:9/nowhere test main\n');
  writeFileSync(join(baseDir, 'etc/apt/trusted.gpg.d/test.asc'), exportKey(home, key));
  writeFileSync(join(baseDir, 'var/lib/dpkg/status'), '');
  const base = join(work, 'base.tar');
  execFileSync('tar', ['-C', baseDir, '--numeric-owner', '--owner=0', '--group=0', '-cf', base, '.']);

  const source = `deb ${served.url}/repo test main`;
  const create = (lang: string, extra: string[]) =>
    runCli(['rootfs', 'create', '--lang', lang, '--base', `tar:${base}`, '--repository', source, '--size', 'auto', ...extra], {
      env: { ...process.env, INFRA_OPERATOR_CACHE_DIR: join(work, 'cache') },
    });

  t.test('--json: python plus ca-certificates, and --packages numpy installed as python3-numpy from --repository', async (t) => {
    const image = join(work, 'python.ext4');
    const run = await create('python', ['--packages', 'numpy', '--output', image, '--json']);
    t.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout) as Created;
    t.equal(result.path, image);
    t.same(result.packages.map((p) => `${p.package}=${p.version}`).sort(), ['ca-certificates=20230311', 'python3-numpy=1:1.24.2-1', 'python3=3.11.2-1'], 'the packages installed, one JSON document on stdout');
    t.match(run.stderr, /\[1\/8\] Pulling base image: tar:.*\n\[2\/8\] Reading repositories\.\.\.\n\[3\/8\] Resolving packages: 1 repositories read, 3 packages to install\.\.\./, 'the steps on stderr');
    t.match(run.stderr, new RegExp(`Created: ${image}\n$`));
    t.notOk(served.requests.some((path) => path.startsWith('/nowhere')), "the base's own source was not read");
    t.ok(fsck(image).ok);
    const status = debugfs(image, 'cat /var/lib/dpkg/status');
    for (const name of ['python3', 'python3-numpy', 'ca-certificates']) t.match(status, new RegExp(`^Package: ${name}\nStatus: install ok installed$`, 'm'), `${name} in the image's dpkg status, configured (no maintainer scripts)`);
  });

  t.test('--quiet: java installs the headless JDK and prints nothing', async (t) => {
    const image = join(work, 'java.ext4');
    const run = await create('java', ['--output', image, '--quiet']);
    t.equal(run.status, 0, run.stderr);
    t.equal(run.stdout, '');
    t.equal(run.stderr, '');
    t.match(debugfs(image, 'cat /var/lib/dpkg/status'), /^Package: default-jdk-headless\nStatus: install ok unpacked\n(.*\n)*Package: ca-certificates$|^Package: ca-certificates\n(.*\n)*Package: default-jdk-headless$/m);
  });

  t.test('unknown packages name the nearest ones; only python retries python3-NAME', async (t) => {
    const node = await create('nodejs', ['--packages', 'node-leftpad', '--output', join(work, 'node.ext4')]);
    t.equal(node.status, 1);
    t.match(node.stderr, /no package named "node-leftpad" in the repositories \(nearest: node-left-pad\)/);
    const typo = await create('python', ['--packages', 'nump', '--output', join(work, 'typo.ext4')]);
    t.equal(typo.status, 1);
    t.match(typo.stderr, /no package named "nump" or "python3-nump" in the repositories \(nearest: python3-numpy, python3\); check the name/, "both names tried, and the names near either");
  });

  t.test('a repository whose Valid-Until has passed is refused', async (t) => {
    const run = await runCli(['rootfs', 'create', '--lang', 'python', '--base', `tar:${base}`, '--repository', `deb ${served.url}/stale test main`, '--output', join(work, 'stale.ext4')]);
    t.equal(run.status, 1);
    t.match(run.stderr, /expired on 2000-01-01T00:00:00\.000Z \(Valid-Until\)/);
  });

  t.test('the base names debian, ubuntu and alpine (also the default) mean debian:bookworm-slim, ubuntu:24.04 and alpine:3.20', async (t) => {
    for (const [alias, reference] of [['debian', 'debian:bookworm-slim'], ['ubuntu', 'ubuntu:24.04'], ['alpine', 'alpine:3.20'], [undefined, 'alpine:3.20']] as const) {
      // Stopped as soon as it names the image it pulls: the test needs no registry.
      const base = alias === undefined ? [] : ['--base', alias];
      const child = spawnCli(['rootfs', 'create', '--lang', 'python', ...base, '--output', join(work, `${alias ?? 'default'}.ext4`)]);
      let stdout = '';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString('utf8');
          if (/\[1\/8\][^\n]*\n/.test(stdout)) child.kill('SIGKILL');
        });
        child.on('close', () => (clearTimeout(timer), resolve()));
      });
      t.match(stdout, `[1/8] Pulling base image: ${reference}...`, `${alias ?? 'no --base'} → ${reference}`);
    }
  });
}

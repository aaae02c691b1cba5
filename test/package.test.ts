/**
 * The npm package: `npm pack` ships the built JavaScript (no tests, no fixtures), and the
 * tarball runs with npx from an empty directory. Dependencies come from the local npm
 * cache (`--offline`): tests send no traffic beyond this machine.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from './helpers/env.js';

t.test('npm pack yields a runnable package with only the built code', async (t) => {
  const dir = tempDir(t);
  execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  const tgz = readdirSync(dir).find((f) => /^infra\.operator-.*\.tgz$/.test(f));
  t.ok(tgz, 'a tarball named infra.operator-<version>.tgz');
  const files = execFileSync('tar', ['-tzf', join(dir, tgz!)], { encoding: 'utf8' }).trim().split('\n');
  t.ok(files.includes('package/bin/infra.operator.js'), 'the command');
  t.ok(files.includes('package/dist/index.js') && files.includes('package/dist/index.d.ts'), 'the library and its types');
  t.ok(files.some((f) => f.startsWith('package/schemas/')), 'the JSON schemas');
  t.ok(files.includes('package/LICENSE'), 'the licence');
  const linked = [...readFileSync(join(REPO, 'README.md'), 'utf8').matchAll(/\]\((docs\/[^)#]+)\)/g)].map((m) => `package/${m[1]}`);
  t.ok(linked.length > 3, `the README links docs (${linked.length})`);
  t.same(linked.filter((f) => !files.includes(f)), [], 'every doc the README links is in the package');
  t.same(files.filter((f) => /^package\/(test|fixtures|bench|src|\.ci)\//.test(f)), [], 'no tests, fixtures, benches or sources');
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const r = spawnSync('npx', ['--yes', '--offline', `../${tgz}`, 'rootfs', '--help'], { cwd: empty, encoding: 'utf8', timeout: 300_000 });
  t.equal(r.status, 0, 'npx ./infra.operator-<version>.tgz rootfs --help', { stderr: r.stderr });
  t.match(r.stdout, /infra\.operator rootfs from-docker/);
  t.match(r.stdout, /infra\.operator rootfs download/);
});

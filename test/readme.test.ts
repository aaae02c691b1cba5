/**
 * The README's first shell block, run exactly as written in a fresh clone of this
 * repository with nothing beside it (no ../shared) and npm kept offline (its cache holds
 * what `npm ci` needs, as .ci/run leaves it): the image it writes passes e2fsck.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsck, prerequisites, REPO, tempDir } from './helpers/env.js';

/** The first fenced shell block of the README. */
function firstShellBlock(): string {
  const m = /```(?:bash|sh)\n([\s\S]*?)```/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'));
  if (!m) throw new Error('README.md has no shell block');
  return m[1]!;
}

/** The README's library example. */
function libraryExample(): string {
  const m = /```js\n([\s\S]*?)```/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'));
  if (!m) throw new Error('README.md has no js block');
  return m[1]!;
}

t.test("the README's first command works in a fresh clone", async (t) => {
  if (!prerequisites(t, { tools: ['git', 'e2fsck'] })) return;
  const clone = join(tempDir(t), 'infra.operator');
  execFileSync('git', ['clone', '--quiet', REPO, clone], { timeout: 120_000 });
  t.notOk(existsSync(join(clone, '..', 'shared')), 'nothing beside the clone');
  const block = firstShellBlock();
  t.match(block, /rootfs from-docker/, 'the block builds an image');
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', block], {
    cwd: clone,
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
  });
  t.equal(r.status, 0, 'the block exits 0', { stdout: r.stdout.slice(-3000), stderr: r.stderr.slice(-3000) });
  t.match(r.stdout, /Created: .*rootfs-alpine\.ext4/);
  const image = join(clone, 'rootfs-alpine.ext4');
  const check = fsck(image);
  t.ok(check.ok, 'e2fsck -fn finds nothing', { output: check.output });

  // The library example, in the same clone: the package imports itself by name.
  rmSync(image);
  writeFileSync(join(clone, 'example.mjs'), libraryExample());
  const lib = spawnSync('node', ['example.mjs'], { cwd: clone, encoding: 'utf8', timeout: 300_000 });
  t.equal(lib.status, 0, 'the library example exits 0', { stderr: lib.stderr.slice(-3000) });
  t.same(lib.stdout.trim().split('\n'), ['1/6 pull', '2/6 create', '3/6 export', '4/6 init', '5/6 runner', '6/6 service'], 'its onEvent saw the six steps in order');
  const again = fsck(image);
  t.ok(again.ok, 'the image the library wrote passes e2fsck -fn', { output: again.output });
});

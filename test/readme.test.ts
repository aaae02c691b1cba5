/**
 * The README's first shell block, run exactly as written in a fresh clone of this
 * repository with nothing beside it (no ../shared) and npm kept offline (its cache holds
 * what `npm ci` needs, as .ci/run leaves it): the image it writes passes e2fsck.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsck, prerequisites, REPO, tempDir } from './helpers/env.js';

/** The first fenced shell block of the README. */
function firstShellBlock(): string {
  const m = /```(?:bash|sh)\n([\s\S]*?)```/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'));
  if (!m) throw new Error('README.md has no shell block');
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
});

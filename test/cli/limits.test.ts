/**
 * Hostile input through the real command line (bin/infra.operator.js): hard links beyond
 * ext4's link count, --size auto's byte budget, names with control characters, and
 * untrusted text (file names, symlink targets, image references, paths) on the terminal.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { buildRootfs } from '../../src/api/build.js';
import { CLI, fsck, prerequisites, tempDir } from '../helpers/env.js';
import { buildLayer, type LayerEntry } from '../helpers/tar-build.js';

const ESC = '\x1b';
const convert = ['--init', 'none', '--guest-runner', 'none'];

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'latin1', timeout: 300_000, env: { ...process.env, ...env } });
}

/** A rootfs tarball of one file `f` and `count - 1` hard links to it. */
function linksTar(dir: string, count: number): string {
  const entries: LayerEntry[] = [{ path: 'f', data: 'x' }];
  for (let i = 1; i < count; i++) entries.push({ path: `l${i}`, type: 'hardlink', linkname: 'f' });
  const path = join(dir, `links-${count}.tar`);
  writeFileSync(path, buildLayer(entries));
  return path;
}

/** One line, `Error: ` and no JavaScript stack trace or RangeError. */
function assertCleanError(t: Test, stderr: string): void {
  t.match(stderr, /^Error: [^\n]*\n$/, 'one line of error');
  t.notMatch(stderr, /RangeError|ERR_OUT_OF_RANGE|\n\s+at /, 'no stack trace');
}

t.test('hard links: 65,000 names build and pass e2fsck; 65,001 and 70,000 are refused, leaving nothing', async (t) => {
  if (!prerequisites(t, { tools: ['e2fsck'] })) return;
  const dir = tempDir(t);
  const out = join(dir, 'out');
  mkdirSync(out);
  const build = (count: number) =>
    cli(['rootfs', 'from-docker', '-q', '-n', 'links', '-i', `tar:${linksTar(dir, count)}`, '-s', '64', '-o', join(out, `links-${count}.ext4`), ...convert]);

  const atLimit = build(65000);
  t.equal(atLimit.status, 0, { stderr: atLimit.stderr });
  const checked = fsck(join(out, 'links-65000.ext4'));
  t.ok(checked.ok, 'e2fsck -fn finds nothing', { output: checked.output });

  for (const count of [65001, 70000]) {
    const r = build(count);
    t.equal(r.status, 1, `${count} names: exit 1`);
    assertCleanError(t, r.stderr);
    t.match(r.stderr, /hard link "l65000" gives "f" 65001 names, over the file system's limit of 65000 links per inode/);
  }
  t.same(readdirSync(out).sort(), ['links-65000.ext4', 'links-65000.ext4.json'], 'nothing left by the refused builds');
});

t.test('--size auto: the layers may expand to the budget, no further', async (t) => {
  const dir = tempDir(t);
  const tar = join(dir, 'big.tar');
  writeFileSync(tar, buildLayer([{ path: 'big', data: Buffer.alloc(1 << 20, 1) }]));
  const build = (budget: number) =>
    cli(['rootfs', 'from-docker', '-q', '-n', 'big', '-i', `tar:${tar}`, '-s', 'auto', '-o', join(dir, `big-${budget}.ext4`), ...convert], {
      INFRA_OPERATOR_AUTO_BUDGET_BYTES: String(budget),
    });
  const refused = build(512 * 1024);
  t.equal(refused.status, 1);
  assertCleanError(t, refused.stderr);
  t.match(refused.stderr, /the layers expand to more than 524288 bytes uncompressed: more than the budget INFRA_OPERATOR_AUTO_BUDGET_BYTES sets/);
  t.equal(build(4 << 20).status, 0, 'within the budget it builds');
  t.same(readdirSync(dir).sort(), ['big-4194304.ext4', 'big-4194304.ext4.json', 'big.tar']);
  const bad = build(Number.NaN);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /INFRA_OPERATOR_AUTO_BUDGET_BYTES must be a whole number of bytes, not 'NaN'/);
});

t.test('--name with control characters is refused before any work, with --output too', async (t) => {
  const dir = tempDir(t);
  const name = `a\nb${ESC}[31m`;
  const r = cli(['rootfs', 'from-docker', '-n', name, '-i', '127.0.0.1:1/none', '-s', '16', '-o', join(dir, 'x.ext4')]);
  t.equal(r.status, 2);
  t.equal(r.stdout, '', 'nothing printed before the check');
  t.equal(r.stderr, "Error: Invalid rootfs name 'a\nb\\x1b[31m': use letters, digits, '.', '_' and '-' (it becomes rootfs-<name>.ext4).\n");
  t.same(readdirSync(dir), [], 'nothing written');
  // The library too: refused before the image is pulled (the registry does not exist).
  await t.rejects(buildRootfs({ name, image: '127.0.0.1:1/none', size: 16, output: join(dir, 'y.ext4') }), { code: 'USAGE' });
  t.same(readdirSync(dir), []);
});

t.test('names, symlink targets, references and paths from outside are escaped on the terminal', async (t) => {
  const dir = tempDir(t);
  const images = join(dir, `images${ESC}[1m`);
  mkdirSync(images);
  const tar = join(dir, `img${ESC}[2J.tar`);
  const entries: LayerEntry[] = [
    { path: `evil${ESC}[31mred`, data: 'x' },
    { path: Buffer.from('c1\xc2\x9bname', 'latin1'), data: 'x' }, // U+009B, the C1 CSI, in UTF-8
    { path: 'link', type: 'symlink', linkname: `${ESC}]0;pwned\x07` },
    { path: 'd/', type: 'dir' },
    { path: Buffer.from('d/caf\xe9', 'latin1'), data: 'latin-1, not UTF-8' },
    { path: 'd/ok-\u00e9', data: 'UTF-8' },
  ];
  writeFileSync(tar, buildLayer(entries.map((e) => (typeof e.path === 'string' ? { ...e, path: Buffer.from(e.path, 'utf8') } : e))));
  const image = join(images, 'rootfs-esc.ext4');
  const built = cli(['rootfs', 'from-docker', '-n', 'esc', '-i', `tar:${tar}`, '-s', '16', '-o', image, ...convert]);
  t.equal(built.status, 0, { stderr: built.stderr });
  t.notOk(built.stdout.includes(ESC), 'from-docker prints no raw ESC');
  t.match(built.stdout, `Docker Image: tar:${dir}/img\\x1b[2J.tar`);
  t.match(built.stdout, `Created: ${dir}/images\\x1b[1m/rootfs-esc.ext4`);

  const root = cli(['rootfs', 'inspect', image, '--ls', '/']);
  t.equal(root.status, 0, { stderr: root.stderr });
  t.notOk(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(root.stdout), 'no control byte but newlines');
  t.match(root.stdout, /  evil\\x1b\[31mred\n/);
  t.match(root.stdout, /  c1\\x9bname\n/);
  t.match(root.stdout, /  link -> \\x1b\]0;pwned\\x07\n/);

  const d = cli(['rootfs', 'inspect', image, '--ls', '/d']);
  t.equal(d.status, 0, { stderr: d.stderr });
  const names = d.stdout.trim().split('\n').map((line) => line.split('  ').pop());
  t.same(names, ['caf\\xe9', Buffer.from('ok-\u00e9', 'utf8').toString('latin1')], 'a non-UTF-8 name as \\xNN, a UTF-8 one as it is');

  const facts = cli(['rootfs', 'inspect', image]);
  t.equal(facts.status, 0, { stderr: facts.stderr });
  t.notOk(facts.stdout.includes(ESC));
  t.match(facts.stdout, /Source image: +tar:.*img\\x1b\[2J\.tar\n/);

  const listed = cli(['rootfs', 'list', '--images-dir', images]);
  t.equal(listed.status, 0, { stderr: listed.stderr });
  t.notOk(listed.stdout.includes(ESC));
  t.match(listed.stdout, /images\\x1b\[1m\/rootfs-esc\.ext4/);
});

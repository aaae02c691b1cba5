/** The command line's contract: usage errors, exit codes, where images go, and its advice. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE_X86, CLI, prerequisites, tempDir, which } from './helpers/env.js';
import { cli } from './helpers/cli.js';


const convert = ['--init', 'none', '--guest-runner', 'none'];

t.test('usage errors exit 2 and say what is missing', async (t) => {
  const missing = cli(['rootfs', 'from-docker', '-n', 'x', '-i', 'alpine']);
  t.equal(missing.status, 2);
  t.match(missing.stderr, /Missing required argument: size/);
  const unknown = cli(['rootfs', 'from-docker', '-n', 'x', '-i', '127.0.0.1:1/none', '-s', '10', '--bogus']);
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /Unknown argument: bogus/);
  const badSize = cli(['rootfs', 'from-docker', '-n', 'x', '-i', '127.0.0.1:1/none', '-s', 'ten']);
  t.equal(badSize.status, 2);
  t.match(badSize.stderr, /image size must be a whole number of MB from 2 to \d+, or auto, not 'ten': give --size in MB/);
  t.equal(cli(['bogus']).status, 2);
  const help = cli(['rootfs', 'from-docker', '--help']);
  t.equal(help.status, 0);
  for (const flag of ['--name', '-n', '--image', '-i', '--size', '-s', '--output', '--images-dir', '--init', '--guest-runner', '--platform']) {
    t.match(help.stdout, new RegExp(`${flag}\\b`), `documents ${flag}`);
  }
});

t.test('create: an unknown language is a usage error that says what to pass', async (t) => {
  const cobol = cli(['rootfs', 'create', '--lang', 'cobol', '--base', 'debian']);
  t.equal(cobol.status, 2);
  t.match(cobol.stderr, /Unknown language 'cobol'\. Known: python, nodejs, go, rust, java, ruby, php, bash, .*pass one of them to --lang/);
  t.equal(cobol.stdout, '', 'no fake output');
});

t.test('output path: --output > --images-dir > INFRA_OPERATOR_IMAGES_DIR', async (t) => {
  if (!prerequisites(t, { files: [ALPINE_X86] })) return;
  const dir = tempDir(t);
  const [a, b, c] = ['env', 'flag', 'out'].map((d) => join(dir, d));
  for (const d of [a, b, c]) mkdirSync(d!);
  const base = ['rootfs', 'from-docker', '-q', '-n', 'alp', '-i', `tar:${ALPINE_X86}`, '-s', '16', ...convert];
  t.equal(cli(base, { env: { ...process.env, INFRA_OPERATOR_IMAGES_DIR: a } }).status, 0);
  t.ok(existsSync(join(a!, 'rootfs-alp.ext4')), 'the env var picks the directory');
  t.equal(cli([...base, '--images-dir', b!], { env: { ...process.env, INFRA_OPERATOR_IMAGES_DIR: a } }).status, 0);
  t.ok(existsSync(join(b!, 'rootfs-alp.ext4')), '--images-dir wins over the env var');
  t.ok(existsSync(join(b!, 'rootfs-alp.ext4.json')), 'with its sidecar');
  t.equal(cli([...base, '--images-dir', b!, '-o', join(c!, 'mine.ext4')], { env: { ...process.env, INFRA_OPERATOR_IMAGES_DIR: a } }).status, 0);
  t.ok(existsSync(join(c!, 'mine.ext4')), '--output wins over both');
});

t.test('an unwritable images directory: advice to use sudo, --output or the env var', async (t) => {
  if (!prerequisites(t, { tools: ['runuser'], files: [ALPINE_X86], root: true })) return;
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const locked = join(dir, 'images');
  mkdirSync(locked, { mode: 0o755 });
  const r = cli(['rootfs', 'from-docker', '-n', 'alp', '-i', `tar:${ALPINE_X86}`, '-s', '16', '--images-dir', locked, ...convert], { asUser: 'nobody' });
  t.equal(r.status, 1, { stderr: r.stderr });
  t.match(r.stderr, /Cannot write to .*images.*sudo.*--output.*INFRA_OPERATOR_IMAGES_DIR/);
});

t.test('not enough disk space: refused before building, with the numbers', async (t) => {
  if (!prerequisites(t, { files: [ALPINE_X86] })) return;
  const dir = tempDir(t);
  const r = cli(['rootfs', 'from-docker', '-n', 'alp', '-i', `tar:${ALPINE_X86}`, '-s', String(1024 * 1024 * 15), '-o', join(dir, 'x.ext4'), ...convert]);
  t.equal(r.status, 1);
  t.match(r.stderr, /Not enough disk space in .*: \d+ MB free, the image may take up to 15728640 MB/);
  t.notOk(existsSync(join(dir, 'x.ext4')));
});

t.test('a bare path suggests the transport to use', async (t) => {
  if (!prerequisites(t, { files: [ALPINE_X86] })) return;
  const r = cli(['rootfs', 'from-docker', '-n', 'alp', '-i', ALPINE_X86, '-s', '16', '-o', '/tmp/never.ext4']);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`tar:${ALPINE_X86.replace(/[.]/g, '\\.')}`));
  void which;
});

t.test('on a terminal a progress line shows bytes written; piped output stays clean', async (t) => {
  if (!prerequisites(t, { tools: ['script'], files: [ALPINE_X86] })) return;
  const dir = tempDir(t);
  const args = (out: string) => ['rootfs', 'from-docker', '-n', 'alp', '-i', `tar:${ALPINE_X86}`, '-s', '16', '-o', join(dir, out), ...convert];
  const command = [process.execPath, CLI, ...args('tty.ext4')].map((a) => `'${a}'`).join(' ');
  const tty = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(tty.status, 0, { output: tty.stdout });
  t.match(tty.stdout, /\r\x1b\[KWriting layer 1\/1: \d+ MiB/, 'the progress line on the terminal');
  t.match(tty.stdout, /Created: /);
  const piped = cli(args('piped.ext4'));
  t.equal(piped.status, 0);
  t.notMatch(piped.stdout + piped.stderr, /Writing layer|\x1b\[/, 'no progress drawing when not a terminal');
});

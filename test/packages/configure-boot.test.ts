/**
 * The languages that do not work from unpacked packages alone, built with `rootfs create
 * --configure static` on the debootstrap minbase and booted with `rootfs run` (one boot
 * each, several checks in one job): java runs a single-file program through
 * /usr/bin/java (alternatives), php lists the extensions its packages enable and a script
 * uses one (conf.d links), rust compiles and links a program (gcc's `cc` alternative).
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, debianMinbaseDir, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';

/** Three builds and three boots under TCG: longer than the suite's per-file limit. */
t.setTimeout(3_600_000);

/** The extensions php8.2-common, -opcache and -readline ship an ini for (mods-available). */
const PHP_EXTENSIONS = ['calendar', 'ctype', 'exif', 'FFI', 'fileinfo', 'ftp', 'gettext', 'iconv', 'PDO', 'Phar', 'posix', 'readline', 'shmop', 'sockets', 'sysvmsg', 'sysvsem', 'sysvshm', 'tokenizer', 'Zend OPcache'];

async function createAndRun(t: Test, lang: string, code: string): Promise<{ stdout: string; stderr: string | null; exitCode: number } | undefined> {
  const work = tempDir(t);
  const tarball = join(work, 'debian.tar');
  execFileSync('tar', ['-C', debianMinbaseDir(), '--numeric-owner', '-cf', tarball, '.']);
  const image = join(work, `rootfs-${lang}.ext4`);
  const created = await runCli(['rootfs', 'create', '--lang', lang, '--configure', 'static', '--base', `tar:${tarball}`, '--size', '2048', '--output', image], { timeoutMs: 1_800_000 });
  if (created.status !== 0) t.comment(created.stderr.slice(-3000));
  t.equal(created.status, 0, `create --lang ${lang} exits 0`);
  const run = await runCli(['rootfs', 'run', image, '--code', code, '--timeout', '900', '--mem', '1536'], { timeoutMs: 1_800_000 });
  if (run.status !== 0) t.comment(run.stderr.slice(-3000));
  t.equal(run.status, 0, 'the job runs');
  return run.status === 0 ? (JSON.parse(run.stdout) as { stdout: string; stderr: string | null; exitCode: number }) : undefined;
}

t.test('java: java Main.java runs', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'debootstrap'], files: kernelFiles() })) return;
  const code = [
    'cd /tmp',
    `printf 'public class Main { public static void main(String[] a) { System.out.println("sum " + (20 + 22)); } }' > Main.java`,
    'java Main.java',
    'readlink /usr/bin/java /etc/alternatives/java',
    'dpkg -s openjdk-17-jre-headless | grep ^Status',
  ].join(' && ');
  const result = await createAndRun(t, 'java', code);
  t.equal(result?.stdout, 'sum 42\n/etc/alternatives/java\n/usr/lib/jvm/java-17-openjdk-amd64/bin/java\nStatus: install ok installed\n');
});

t.test('php: php -m lists the packaged extensions, a script uses one', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'debootstrap'], files: kernelFiles() })) return;
  const code = `php -m && php -r 'var_dump(ctype_digit("123"), iconv("UTF-8", "ASCII//TRANSLIT", "abc"));' && php -r 'echo php_ini_loaded_file(), "\\n";'`;
  const result = await createAndRun(t, 'php', code);
  const modules = (result?.stdout ?? '').split('\n');
  for (const name of PHP_EXTENSIONS) t.ok(modules.includes(name), `php -m lists ${name}`);
  t.match(result?.stdout ?? '', /bool\(true\)\nstring\(3\) "abc"\n\/etc\/php\/8\.2\/cli\/php\.ini\n$/, 'ctype and iconv work; php.ini is loaded');
  t.equal(result?.stderr ?? '', '', 'no warning from php (every conf.d ini names an extension that loads)');
});

t.test('rust: a program compiles, links with cc and runs', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'debootstrap'], files: kernelFiles() })) return;
  const code = `cd /tmp && printf 'fn main() { println!("{}", 6 * 7); }' > m.rs && rustc m.rs -o m && ./m && readlink /usr/bin/cc`;
  const result = await createAndRun(t, 'rust', code);
  t.equal(result?.stdout, '42\n/etc/alternatives/cc\n');
});

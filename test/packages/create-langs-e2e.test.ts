/**
 * End to end beside create-e2e (python): `rootfs create --lang nodejs|go|ruby --base
 * tar:DEBIAN.tar` against the bookworm archive, each image booted once, its job run by
 * the guest runner in that language: node prints nothing on stderr (ca-certificates is
 * there), go compiles and runs a program, ruby runs one and asks the guest's dpkg about
 * its own package.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, debianMinbaseDir, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';

interface JobResult {
  status: string;
  stdout: string | null;
  stderr: string | null;
  exitCode: number;
}

const LANGUAGES = [
  {
    lang: 'nodejs',
    code: "const tls = require('node:tls'); console.log(`node ${process.versions.node.split('.')[0]} ${tls.rootCertificates.length > 0}`);",
    stdout: /^node 18 true\n$/,
  },
  {
    lang: 'go',
    code: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("go", 6*7) }\n',
    stdout: /^go 42\n$/,
  },
  {
    lang: 'ruby',
    code: 'puts "ruby #{RUBY_VERSION.split(".").first(2).join(".")}"\nputs `dpkg -s ruby`.lines.grep(/^Status:/)\nputs `dpkg -L ruby`.lines.grep(%r{^/usr/bin/ruby$})\n',
    stdout: /^ruby 3\.1\nStatus: install ok installed\n\/usr\/bin\/ruby\n$/,
  },
];

// Three creates and three boots under TCG: more than the suite's 900 s per file.
t.setTimeout(2_700_000);

t.test('create --lang nodejs, go and ruby: each image boots and runs a program', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'debootstrap'], files: kernelFiles() })) return;
  const work = tempDir(t);
  const tarball = join(work, 'debian.tar');
  execFileSync('tar', ['-C', debianMinbaseDir(), '--numeric-owner', '-cf', tarball, '.']);
  for (const { lang, code, stdout } of LANGUAGES) {
    const image = join(work, `rootfs-${lang}.ext4`);
    const created = await runCli(['rootfs', 'create', '--lang', lang, '--base', `tar:${tarball}`, '--size', 'auto', '--output', image, '--quiet'], { timeoutMs: 900_000 });
    if (created.status !== 0) t.comment(created.stderr.slice(-3000));
    t.equal(created.status, 0, `create --lang ${lang} exits 0`);
    if (created.status !== 0) continue;
    const run = await runCli(['rootfs', 'run', image, '--lang', lang, '--code', code, '--timeout', '600', '--mem', '1024'], { timeoutMs: 900_000 });
    if (run.status !== 0) t.comment(run.stderr.slice(-3000));
    t.equal(run.status, 0, `${lang}: rootfs run exits 0`);
    const result = JSON.parse(run.stdout || '{}') as JobResult;
    t.equal(result.exitCode, 0, `${lang}: the program exits 0`);
    t.match(result.stdout ?? '', stdout, `${lang}: its output`);
    t.equal(result.stderr, null, `${lang}: nothing on stderr`);
  }
});

/**
 * Everything that can be checked before the pull is (src/api/preflight.ts): a bad option
 * fails before any step line is printed and before any registry request, with the exit
 * code of docs/exit-codes.md (2 for a malformed value, 1 for an unusable file or place).
 * Against a loopback registry that counts requests, and Debian's docker-registry.
 */
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ALPINE_LAYOUT, prerequisites, tempDir } from '../helpers/env.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { pushLayout } from '../helpers/oci-build.js';
import { startRegistry, startStaticRegistry } from '../helpers/registry.js';

const convert = ['--init', 'none', '--guest-runner', 'none'];
const STEP_OR_HEADER = /\[1\/[68]\]|Creating rootfs/;

if (!prerequisites(t, { files: [join(ALPINE_LAYOUT, 'index.json')] })) process.exit(0);

const scratch = tempDir(t);
const counting = await startStaticRegistry(t, { layoutDir: ALPINE_LAYOUT });
const image = `${counting.host}/test/alpine:3.20`;

const file = join(scratch, 'a-file');
writeFileSync(file, 'not a directory\n');
const notExecutable = join(scratch, 'runner.txt');
writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
const notJson = join(scratch, 'auth-not-json.json');
writeFileSync(notJson, '{"auths": ');
const notAuthFile = join(scratch, 'auth-array.json');
writeFileSync(notAuthFile, '[1, 2]');
const goodAuthFile = join(scratch, 'auth.json');
writeFileSync(goodAuthFile, JSON.stringify({ auths: { 'registry.example.com': { auth: Buffer.from('u:p').toString('base64') } } }));

interface Case {
  what: string;
  args: string[];
  status: number;
  stderr: RegExp;
  env?: NodeJS.ProcessEnv;
}

/** Asserts the refusal came first: the exit code, the reason, no step, no request, no file. */
async function assertRefusedEarly(t: Test, args: string[], c: Case, output: string): Promise<CliResult> {
  const before = counting.log.length;
  const r = await runCli(args, { env: { ...process.env, ...c.env }, timeoutMs: 60_000 });
  t.equal(r.status, c.status, `${c.what}: exit ${c.status}`, { stderr: r.stderr });
  t.match(r.stderr, c.stderr, `${c.what}: the reason`);
  t.match(r.stderr, /^Error: [^\n]*\n$/, `${c.what}: one error line, nothing before it`);
  t.notMatch(r.stdout + r.stderr, STEP_OR_HEADER, `${c.what}: no header, no step`);
  t.equal(counting.log.length, before, `${c.what}: no registry request`);
  t.notOk(existsSync(output), `${c.what}: no image`);
  return r;
}

/** `command` with `defaults` (flag, value) for the flags `args` does not give; `--images-dir` replaces `-o`. */
function withDefaults(command: string[], defaults: Array<[string, string]>, args: string[]): string[] {
  const given = (flag: string) => args.includes(flag) || (flag === '-o' && args.includes('--images-dir'));
  return [...command, ...defaults.filter(([flag]) => !given(flag)).flat(), ...args];
}

/** Options shared by from-docker and create, with the error each gives. */
function commonCases(): Case[] {
  return [
    { what: 'a malformed --platform', args: ['--platform', 'linux'], status: 2, stderr: /invalid platform "linux": use os\/arch\[\/variant\]/ },
    { what: 'an empty --platform', args: ['--platform', ''], status: 2, stderr: /invalid platform ""/ },
    { what: 'a malformed --uuid', args: ['--uuid', 'not-a-uuid'], status: 2, stderr: /'not-a-uuid' is not a non-zero UUID: give --uuid like/ },
    { what: 'a --creds without a colon', args: ['--creds', 'alice'], status: 2, stderr: /Registry credentials must be user:password: e\.g\. --creds/ },
    { what: 'an empty --creds', args: ['--creds', ''], status: 2, stderr: /Registry credentials must be user:password/ },
    { what: 'a missing --authfile', args: ['--authfile', join(scratch, 'missing.json')], status: 1, stderr: /Cannot read the auth file .*missing\.json: ENOENT.*give --authfile a readable auth\.json/ },
    { what: 'an --authfile that is not JSON', args: ['--authfile', notJson], status: 1, stderr: /The auth file .*auth-not-json\.json is not valid JSON: fix it .*or leave out --authfile/ },
    { what: 'an --authfile that is not an auth file', args: ['--authfile', notAuthFile], status: 1, stderr: /auth-array\.json is not an auth\.json or docker config\.json/ },
    { what: 'a malformed --insecure-registry', args: ['--insecure-registry', 'bad host!'], status: 2, stderr: /'bad host!' is not a registry host: give --insecure-registry as host or host:port/ },
    { what: 'an --output under a file', args: ['-o', join(file, 'x.ext4')], status: 1, stderr: /Cannot create the directory .*a-file: it or one of its parents is a file, not a directory: choose another place with --output/ },
    { what: 'an --images-dir under a file', args: ['--images-dir', join(file, 'images')], status: 1, stderr: /Cannot create the directory .*a-file\/images: it or one of its parents is a file.*--images-dir or INFRA_OPERATOR_IMAGES_DIR/ },
    { what: 'more than the free space', args: ['-s', String(1024 * 1024 * 15)], status: 1, stderr: /Not enough disk space in .*: \d+ MB free, the image may take up to 15728640 MB/ },
    { what: 'a malformed auto budget', args: ['-s', 'auto'], env: { INFRA_OPERATOR_AUTO_BUDGET_BYTES: '1e9' }, status: 2, stderr: /INFRA_OPERATOR_AUTO_BUDGET_BYTES must be a whole number of bytes, not '1e9'/ },
  ];
}

t.test('from-docker: every option is checked before step 1 and before any registry request', async (t) => {
  const output = join(tempDir(t), 'rootfs-a.ext4');
  const cases: Case[] = [
    { what: 'a malformed reference', args: ['-i', `${counting.host}/Test/Alpine:3.20`], status: 2, stderr: /invalid image reference ".*Test\/Alpine:3\.20": repository names are lowercase/ },
    { what: 'a malformed tag', args: ['-i', `${counting.host}/test/alpine:bad!tag`], status: 2, stderr: /"bad!tag" is not a valid tag/ },
    { what: 'a transport without a path', args: ['-i', 'tar:'], status: 2, stderr: /"tar:" names no file/ },
    { what: 'a missing --guest-runner', args: ['--guest-runner', join(scratch, 'no-runner')], status: 1, stderr: /Cannot use the guest runner .*no-runner: ENOENT.*: give --guest-runner an executable file/ },
    { what: 'a --guest-runner not executable', args: ['--guest-runner', notExecutable], status: 1, stderr: /Cannot use the guest runner .*runner\.txt: it is not executable \(mode 644\)/ },
    { what: 'a --guest-runner that is a directory', args: ['--guest-runner', scratch], status: 1, stderr: /Cannot use the guest runner .*: it is not a regular file/ },
    ...commonCases(),
  ];
  for (const c of cases) {
    const args = withDefaults(['rootfs', 'from-docker', '-n', 'a'], [['-i', image], ['-s', '16'], ['-o', output]], c.args);
    await assertRefusedEarly(t, args, c, output);
  }
});

t.test('create: the same checks, with --base and --repository, before step 1', async (t) => {
  const output = join(tempDir(t), 'rootfs-python.ext4');
  const cases: Case[] = [
    { what: 'a malformed --base', args: ['--base', `${counting.host}/Debian:12`], status: 2, stderr: /invalid image reference/ },
    { what: 'a malformed --repository', args: ['--repository', 'http://deb.debian.org/debian bookworm'], status: 2, stderr: /repository 1: .* is not a "deb URI SUITE COMPONENT\.\.\." line: give --repository as/ },
    { what: 'a --repository not over http', args: ['--repository', 'deb ftp://x/debian bookworm main'], status: 2, stderr: /the source URI ftp:\/\/x\/debian is not http or https/ },
    ...commonCases(),
  ];
  for (const c of cases) {
    const args = withDefaults(['rootfs', 'create', '--lang', 'python'], [['--base', `${counting.host}/debian:12`], ['-s', '64'], ['-o', output]], c.args);
    await assertRefusedEarly(t, args, c, output);
  }
});

t.test('the counting registry sees a valid pull: explicit, usable credentials do not stop a registry without auth', async (t) => {
  const dir = tempDir(t);
  const before = counting.log.length;
  const r = await runCli(['rootfs', 'from-docker', '-n', 'a', '-i', image, '-s', '16', '-o', dir, '--creds', 'alice:secret', '--authfile', goodAuthFile, ...convert]);
  t.equal(r.status, 0, { stderr: r.stderr });
  t.ok(counting.log.length > before, 'the pull reached the registry');
  t.match(r.stdout, /^Creating rootfs for a from Docker image\.\.\.\n  Docker Image: .*\n  Size: 16 MB\n\[1\/6\] Pulling Docker image/, 'the header, then the steps');
  t.ok(existsSync(join(dir, 'rootfs-a.ext4')));
});

t.test('the images directory is created with its parents (0755) when missing', async (t) => {
  const images = join(tempDir(t), 'srv', 'firecracker', 'images');
  const r = await runCli(['rootfs', 'from-docker', '-q', '-n', 'alp', '-i', `oci:${ALPINE_LAYOUT}:3.20`, '-s', '16', ...convert], {
    env: { ...process.env, INFRA_OPERATOR_IMAGES_DIR: images },
  });
  t.equal(r.status, 0, { stderr: r.stderr });
  t.ok(existsSync(join(images, 'rootfs-alp.ext4')));
  for (const dir of [images, join(images, '..'), join(images, '..', '..')]) {
    t.equal(statSync(dir).mode & 0o777, 0o755 & ~process.umask(), `${dir} is 0755 less the umask`);
  }
});

t.test('an images directory the user may not create: refused before the pull, with what to do', async (t) => {
  if (!prerequisites(t, { tools: ['runuser'], root: true })) return;
  const dir = tempDir(t);
  chmodSync(dir, 0o755); // root's, readable by nobody but not writable
  const locked = join(dir, 'images');
  for (const command of [
    ['rootfs', 'from-docker', '-n', 'alp', '-i', image, '-s', '16', '--images-dir', locked],
    ['rootfs', 'create', '--lang', 'python', '--base', `${counting.host}/debian:12`, '--images-dir', locked],
  ]) {
    const before = counting.log.length;
    const r = await runCli(command, { asUser: 'nobody' });
    t.equal(r.status, 1, { stderr: r.stderr });
    t.match(r.stderr, /^Error: Cannot create the directory .*\/images: EACCES.*: run with sudo, create it \(sudo mkdir -p .*\/images\) and give it to your user, or choose another place with --output, --images-dir or INFRA_OPERATOR_IMAGES_DIR$/m);
    t.equal(counting.log.length, before, 'no registry request');
    t.notOk(existsSync(locked));
  }
  mkdirSync(locked, { mode: 0o755 });
  const r = await runCli(['rootfs', 'from-docker', '-n', 'alp', '-i', image, '-s', '16', '--images-dir', locked], { asUser: 'nobody' });
  t.equal(r.status, 1);
  t.match(r.stderr, /^Error: Cannot write to .*\/images: EACCES.*: run with sudo, or choose another place with --output/m);
  t.notMatch(r.stdout, STEP_OR_HEADER);
});

t.test("Debian's docker-registry: a missing repository is said so, a missing tag too; explicit credentials checked though it needs none", async (t) => {
  if (!prerequisites(t, { tools: ['docker-registry', 'skopeo'] })) return;
  const registry = await startRegistry(t);
  await pushLayout(ALPINE_LAYOUT, '3.20', `${registry.host}/test/alpine:3.20`);
  const dir = tempDir(t);
  const build = (reference: string, ...more: string[]) =>
    runCli(['rootfs', 'from-docker', '-n', 'alp', '-i', reference, '-s', '16', '-o', dir, ...convert, ...more], { timeoutMs: 120_000 });

  const repository = await build(`${registry.host}/nothere:1`);
  t.equal(repository.status, 1);
  t.match(repository.stderr, /the repository nothere does not exist on 127\.0\.0\.1:\d+: check the repository name/);
  t.notMatch(repository.stderr, /tag "1"/);

  const tag = await build(`${registry.host}/test/alpine:1`);
  t.equal(tag.status, 1);
  t.match(tag.stderr, /tag "1" not found in the repository test\/alpine: check the tag or digest \(the repository exists\)/);

  const digest = await build(`${registry.host}/test/alpine@sha256:${'0'.repeat(64)}`);
  t.equal(digest.status, 1);
  t.match(digest.stderr, /manifest sha256:0{64} not found in the repository test\/alpine/);

  const malformedCreds = await build(`${registry.host}/test/alpine:3.20`, '--creds', 'alice');
  t.equal(malformedCreds.status, 2);
  t.match(malformedCreds.stderr, /Registry credentials must be user:password/);
  const badAuthFile = await build(`${registry.host}/test/alpine:3.20`, '--authfile', notJson);
  t.equal(badAuthFile.status, 1);
  t.match(badAuthFile.stderr, /is not valid JSON/);
  t.notOk(existsSync(join(dir, 'rootfs-alp.ext4')), 'nothing built by the refused runs');

  const usable = await build(`${registry.host}/test/alpine:3.20`, '--creds', 'alice:secret', '--authfile', goodAuthFile);
  t.equal(usable.status, 0, { stderr: usable.stderr });
  t.ok(existsSync(join(dir, 'rootfs-alp.ext4')));
});

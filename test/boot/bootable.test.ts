/**
 * makeBootable on the real Alpine fixture tree (loaded from its extraction) and on
 * variants of it: what each init choice writes, the runner choices, the config files,
 * and the errors for images that cannot boot as asked.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolMeta } from '../../src/tree/tree.js';
import type { DirInode, FileInode, Inode, SymlinkInode } from '../../src/tree/tree.js';
import { makeBootable } from '../../src/boot/bootable.js';
import { flagOf } from '../../src/cli/main.js';
import type { InfraError } from '../../src/errors.js';
import type { BootOptions } from '../../src/boot/bootable.js';
import { GUEST_PATHS, hostnameFor, imageEnv } from '../../src/boot/files.js';
import { GUEST_RUNNER_SCRIPT } from '../../src/guest/runner-script.js';
import { TreeEditor, lookup, resolvePath } from '../../src/tree/edit.js';
import { ALPINE_X86, prerequisites, tempDir, which } from '../helpers/env.js';
import { DEFAULT_CONFIG, TEST_TIME, alpineDir, loadTree } from '../helpers/boot.js';
import { contentBytes, MemorySink } from '../helpers/memory-sink.js';

const options = (extra: Partial<BootOptions> = {}): BootOptions => ({
  init: 'auto',
  guestRunner: 'builtin',
  config: DEFAULT_CONFIG,
  hostname: 'vm1',
  time: TEST_TIME,
  ...extra,
});

function text(root: DirInode, path: string): string {
  const inode = lookup(root, path);
  if (inode?.kind !== 'file') throw new Error(`${path} is not a file`);
  return contentBytes((inode as FileInode).content).toString('utf8');
}

function linkTarget(root: DirInode, path: string): string | undefined {
  const at = resolvePath(root, path, false)?.inode;
  return at?.kind === 'symlink' ? (at as SymlinkInode).target : undefined;
}

/** The fixture is extracted once for the whole file; each test loads a fresh tree from it. */
const suite = t;
let alpine: string | undefined;
async function alpineTree(t: Test): Promise<DirInode | undefined> {
  if (!prerequisites(t, { tools: ['tar'], files: [ALPINE_X86] })) return undefined;
  alpine ??= alpineDir(tempDir(suite));
  return loadTree(alpine);
}

t.test('auto on Alpine: BusyBox init, builtin runner, rcS service', async (t) => {
  const root = await alpineTree(t);
  if (!root) return;
  const config = { env: ['PATH=/usr/bin:/bin', "A=it's"], entrypoint: ['/app'], cmd: ['--x'], workingDir: '/app', user: '1000:1000' };
  const report = await makeBootable(root, new MemorySink(), options({ config }));
  t.equal(report.init, 'busybox');
  t.equal(report.runner, 'builtin');
  t.equal(report.service, '/etc/init.d/S99guest');
  t.same(report.warnings, []);
  t.equal(linkTarget(root, '/sbin/init'), '/bin/busybox');
  t.equal(
    text(root, '/etc/inittab'),
    '# Written by infra.operator for BusyBox init.\n::sysinit:/etc/init.d/rcS\nttyS0::respawn:/bin/busybox getty -L 115200 ttyS0 vt100\n' +
      '::ctrlaltdel:/sbin/reboot\n::shutdown:/etc/init.d/rcK\n',
  );
  t.match(text(root, '/etc/init.d/rcS'), /mount_fs devpts \/dev\/pts/);
  t.equal(text(root, GUEST_PATHS.runner), GUEST_RUNNER_SCRIPT);
  t.equal((lookup(root, GUEST_PATHS.runner) as FileInode).mode, 0o755);
  t.match(text(root, GUEST_PATHS.service), /'\/usr\/local\/bin\/infra\.operator' 'guest' <\/dev\/null >\/dev\/console 2>&1 &/);
  t.equal((lookup(root, GUEST_PATHS.service) as FileInode).mode, 0o755);
  t.equal(text(root, GUEST_PATHS.runnerConf), 'init=busybox\nuser=1000:1000\nworkdir=/app\n');
  t.same(JSON.parse(text(root, GUEST_PATHS.imageJson)), { Env: config.env, Entrypoint: ['/app'], Cmd: ['--x'], WorkingDir: '/app', User: '1000:1000' });
  t.equal(text(root, '/etc/hostname'), 'vm1\n');
  t.match(text(root, '/etc/hosts'), /^127\.0\.1\.1\tvm1$/m);
  t.equal(text(root, '/etc/resolv.conf').includes('nameserver 1.1.1.1'), true);
  t.equal(text(root, '/etc/fstab'), '# Written by infra.operator.\n/dev/vda\t/\text4\trw,relatime\t0\t1\n');
  t.equal((lookup(root, '/tmp') as DirInode).mode, 0o1777);
  for (const dir of ['/home', '/var/log', '/run', '/proc', '/sys', '/dev']) t.equal(lookup(root, dir)?.kind, 'dir', dir);
  const console = lookup(root, '/dev/console') as Inode & { major: number; minor: number };
  t.same([console.kind, console.major, console.minor], ['char', 5, 1]);
  for (const written of report.written.filter((w) => !w.includes(' -> '))) {
    t.same(lookup(root, written)?.mtime, TEST_TIME, `${written} carries the given time`);
  }
});

t.test('--init minimal on Alpine replaces nothing it should not', async (t) => {
  const root = await alpineTree(t);
  if (!root) return;
  const report = await makeBootable(root, new MemorySink(), options({ init: 'minimal', guestRunner: 'none' }));
  t.equal(report.init, 'minimal');
  t.equal(report.runner, 'none');
  t.equal(report.service, undefined);
  t.equal(lookup(root, GUEST_PATHS.runner), undefined);
  t.equal(lookup(root, GUEST_PATHS.service), undefined);
  t.match(text(root, '/sbin/init'), /^#!\/bin\/sh\n/);
  t.match(text(root, '/sbin/init'), /sysrq-trigger/);
  t.match(text(root, GUEST_PATHS.runnerConf), /^init=minimal$/m);
});

t.test('openrc: service in the default runlevel, early services linked', async (t) => {
  const root = await alpineTree(t);
  if (!root) return;
  const sink = new MemorySink();
  const editor = new TreeEditor(root, sink, TEST_TIME);
  for (const path of ['/sbin/openrc', '/etc/init.d/devfs', '/etc/init.d/procfs', '/etc/init.d/sysfs', '/etc/init.d/hostname', '/etc/init.d/mount-ro']) {
    await editor.putFile(path, '#!/bin/sh\n', 0o755);
  }
  const report = await makeBootable(root, sink, options({ guestRunner: 'builtin', guestArgs: ['guest', "it's"] }));
  t.equal(report.init, 'openrc');
  t.equal(linkTarget(root, '/etc/runlevels/default/S99guest'), '/etc/init.d/S99guest');
  t.equal(linkTarget(root, '/etc/runlevels/sysinit/devfs'), '/etc/init.d/devfs');
  t.equal(linkTarget(root, '/etc/runlevels/sysinit/procfs'), '/etc/init.d/procfs');
  t.equal(linkTarget(root, '/etc/runlevels/sysinit/sysfs'), '/etc/init.d/sysfs');
  t.equal(linkTarget(root, '/etc/runlevels/boot/hostname'), '/etc/init.d/hostname');
  t.equal(linkTarget(root, '/etc/runlevels/shutdown/mount-ro'), '/etc/init.d/mount-ro');
  t.equal(linkTarget(root, '/etc/runlevels/boot/bootmisc'), undefined, 'only services the image has');
  t.match(text(root, GUEST_PATHS.service), /^#!\/sbin\/openrc-run\n/);
  t.match(text(root, '/etc/inittab'), /::wait:\/sbin\/openrc default/);
  t.match(text(root, GUEST_PATHS.service), /^  '\/usr\/local\/bin\/infra\.operator' 'guest' 'it'\\''s' <\/dev\/null >\/dev\/console 2>&1 &$/m);
  t.equal(linkTarget(root, '/sbin/init'), '/bin/busybox');
});

t.test('openrc asked of an image without it, and images without /bin/sh', async (t) => {
  const root = await alpineTree(t);
  if (!root) return;
  const sink = new MemorySink();
  await t.rejects(makeBootable(root, sink, options({ init: 'openrc' })), { code: 'ROOTFS', message: /no OpenRC/ });
  (lookup(root, '/bin') as DirInode).children.delete('sh');
  const noShell = await makeBootable(root, sink, options()).catch((err: InfraError) => err);
  t.match(noShell, { code: 'ROOTFS', option: 'init', message: /no \/bin\/sh.*the init option none.*the guestRunner option/ }, 'the library names options plainly');
  t.match((noShell as InfraError).render(flagOf), /no \/bin\/sh.*--init none.*--guest-runner PATH/, 'the CLI words them as flags');
  const report = await makeBootable(root, sink, options({ init: 'none', guestRunner: 'none' }));
  t.equal(report.init, 'none');
});

t.test('a custom guest runner is installed with its arguments', async (t) => {
  const root = await alpineTree(t);
  if (!root) return;
  const binary = join(tempDir(t), 'runner');
  writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
  const sink = new MemorySink();
  const report = await makeBootable(root, sink, options({ init: 'busybox', guestRunner: binary, guestArgs: ['serve', '--port', '52'] }));
  t.equal(report.runner, 'custom');
  const runner = lookup(root, GUEST_PATHS.runner) as FileInode;
  t.same(contentBytes(runner.content), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]));
  t.equal(runner.mode, 0o755);
  t.match(text(root, GUEST_PATHS.service), /'\/usr\/local\/bin\/infra\.operator' 'serve' '--port' '52' </);
  await t.rejects(makeBootable(root, sink, options({ guestRunner: join(tempDir(t), 'missing') })), { code: 'INPUT' });
});

t.test('image.env is safe to source in dash, bash and busybox sh', async (t) => {
  const env = ['A=plain', "B=it's $HOME `id` \"q\" \\", 'C=multi\nline', 'EMPTY=', 'bad-name=x', 'NOEQUALS'];
  const { text: file, skipped } = imageEnv(env);
  t.same(skipped, ['bad-name=x', 'NOEQUALS']);
  const path = join(tempDir(t), 'image.env');
  writeFileSync(path, file);
  for (const shell of [['dash'], ['bash'], ['busybox', 'sh']]) {
    if (!which(shell[0]!)) continue;
    const r = spawnSync(shell[0]!, [...shell.slice(1), '-c', `. ${path}; printf '%s|' "$A" "$B" "$C" "$EMPTY"`], { encoding: 'utf8' });
    t.equal(r.stdout, "plain|it's $HOME `id` \"q\" \\|multi\nline||", shell.join(' '));
  }
});

t.test('every generated script parses in dash, bash and busybox sh', async (t) => {
  const root = await alpineTree(t);
  if (!root) return;
  await makeBootable(root, new MemorySink(), options({ init: 'minimal' }));
  const dir = tempDir(t);
  for (const path of ['/sbin/init', GUEST_PATHS.rcS, GUEST_PATHS.rcK, GUEST_PATHS.service, GUEST_PATHS.runner]) {
    const file = join(dir, path.replace(/\//g, '_'));
    writeFileSync(file, text(root, path));
    for (const shell of [['dash'], ['bash'], ['busybox', 'sh']]) {
      if (!which(shell[0]!)) continue;
      const r = spawnSync(shell[0]!, [...shell.slice(1), '-n', file], { encoding: 'utf8' });
      t.equal(r.status, 0, `${path} under ${shell.join(' ')}: ${r.stderr}`);
    }
  }
});

t.test('hostnames from rootfs names', async (t) => {
  t.equal(hostnameFor('python'), 'python');
  t.equal(hostnameFor('My_Image:3.12'), 'my-image-3-12');
  t.equal(hostnameFor('---'), 'infra-operator');
  t.equal(hostnameFor('a'.repeat(80)).length, 63);
});

t.test('a directory where a file must go is an error', async (t) => {
  const root = await alpineTree(t);
  if (!root) return;
  const etc = lookup(root, '/etc') as DirInode;
  etc.children.set('hostname', { kind: 'dir', ...toolMeta(0o755, TEST_TIME), children: new Map() });
  await t.rejects(makeBootable(root, new MemorySink(), options()), { code: 'ROOTFS', message: /\/etc\/hostname/ });
});

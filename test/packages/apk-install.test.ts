/**
 * Installing test-built `.apk` files into the Alpine minirootfs tree: the files, their
 * per-file checksums, and apk's database (installed records compared line by line with
 * the form of the minirootfs' real ones, scripts.tar, triggers, world); refusals of a
 * wrong datahash, a control-hash mismatch, a file whose bytes differ from its checksum
 * record, and a file another package owns.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readApkIndex } from '../../src/packages/apk/apkindex.js';
import { ApkDatabase, INSTALLED, SCRIPTS, TRIGGERS, WORLD } from '../../src/packages/apk/db.js';
import { readApkKeys } from '../../src/packages/apk/trust.js';
import type { ApkEntry } from '../../src/packages/apk/types.js';
import { ApkInstaller } from '../../src/packages/apk/unpack.js';
import { readTar } from '../../src/tar/reader.js';
import { TreeEditor, resolvePath } from '../../src/tree/edit.js';
import { alpineDir, TEST_TIME } from '../helpers/boot.js';
import { MemorySink, contentBytes } from '../helpers/memory-sink.js';
import { member, paxMember, tarball } from '../helpers/tar-build.js';
import { BUILD_TIME, buildApk, buildIndex, indexRecord, makeApkKey, q1, sha1, type ApkSpec, type BuiltApk } from './apk-repo-fixture.js';
import { baseFromDir } from './deb-repo-fixture.js';

const key = makeApkKey('test@example.invalid-5f0c2a1b.rsa.pub');
const work = mkdtempSync(join(tmpdir(), 'apk-install-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const libfoo: ApkSpec = {
  name: 'libfoo',
  version: '1.2-r0',
  provides: ['so:libfoo.so.1=1.2'],
  files: [
    { path: 'usr' },
    { path: 'usr/lib' },
    { path: 'usr/lib/libfoo.so.1', data: 'ELF libfoo\n', mode: 0o755 },
    { path: 'usr/lib/libfoo.so', symlink: 'libfoo.so.1' },
  ],
};
const app: ApkSpec = {
  name: 'app',
  version: '2.0-r3',
  depends: ['so:libfoo.so.1', 'cmd:sh'],
  provides: ['cmd:app=2.0-r3'],
  triggers: ['/usr/share/app/plugins'],
  files: [
    { path: 'usr' },
    { path: 'usr/bin' },
    { path: 'usr/bin/app', data: '#!/bin/sh\necho app\n', mode: 0o755 },
    { path: 'etc' },
    { path: 'etc/app.conf', data: 'secret=1\n', mode: 0o640, gid: 42 },
    { path: 'var/lib/app', mode: 0o700, uid: 100, gid: 101 },
  ],
  scripts: { '.post-install': '#!/bin/sh\necho installed\n', '.trigger': '#!/bin/sh\necho "$@"\n' },
};

/** Loads the minirootfs with the test key trusted; `entries` are the index's, each `.apk` written out. */
async function setup(t: { testdir(): string }, apks: BuiltApk[], records = apks.map(indexRecord)) {
  const dir = alpineDir(t.testdir());
  writeFileSync(join(dir, 'etc/apk/keys', key.name), key.publicPem);
  const sink = new MemorySink();
  const base = await baseFromDir(dir);
  const files = { root: base.tree, readFile: base.readFile };
  const entries = await readApkIndex(buildIndex(records, [key]), readApkKeys(files), 'http://127.0.0.1/main', 'the test index');
  const resolved = (name: string) => {
    const apk = apks.find((a) => a.spec.name === name)!;
    const file = join(work, `${name}-${apk.spec.version}-${Math.random().toString(36).slice(2)}.apk`);
    writeFileSync(file, apk.file);
    return { entry: entries.find((e: ApkEntry) => e.name === name)!, file };
  };
  const original = base.readFile(INSTALLED)!.toString('utf8');
  const originalTriggers = base.readFile(TRIGGERS)!.toString('utf8');
  const db = await ApkDatabase.read(files);
  return { tree: base.tree, sink, db, installer: new ApkInstaller(base.tree, sink, db), resolved, original, originalTriggers };
}

t.test('files and the database', async (t) => {
  const built = [buildApk(libfoo, key), buildApk(app, key)];
  const { tree, sink, db, installer, resolved, original, originalTriggers } = await setup(t, built);
  await installer.install(resolved('libfoo'));
  await installer.install(resolved('app'));
  db.addWorld(['app']);
  await db.write(new TreeEditor(tree, sink, TEST_TIME));

  const file = (path: string) => resolvePath(tree, path, false)?.inode;
  const app1 = file('/usr/bin/app');
  t.equal(app1?.kind === 'file' && contentBytes(app1.content).toString(), '#!/bin/sh\necho app\n');
  t.match(file('/etc/app.conf'), { kind: 'file', mode: 0o640, uid: 0, gid: 42, mtime: { sec: BUILD_TIME } });
  t.match(file('/usr/lib/libfoo.so'), { kind: 'symlink', target: 'libfoo.so.1' });
  t.match(file('/var/lib/app'), { kind: 'dir', mode: 0o700, uid: 100, gid: 101 });
  t.equal(file('/usr/lib')?.kind, 'dir', 'the image\'s /usr/lib is kept');

  const read = (path: string) => {
    const inode = file(path);
    return inode?.kind === 'file' ? contentBytes(inode.content) : Buffer.alloc(0);
  };
  const installed = read(INSTALLED).toString('utf8');
  t.ok(installed.startsWith(original.trimEnd()), 'the base records are kept as they were');
  const appControl = built[1]!.control;
  const appRecord = installed.split('\n\n').find((r) => r.includes('\nP:app\n'))!;
  t.same(appRecord.split('\n'), [
    `C:${q1(appControl)}`,
    'P:app',
    'V:2.0-r3',
    'A:x86_64',
    `S:${built[1]!.file.length}`,
    `I:${built[1]!.installedSize}`,
    'T:test package app',
    'U:https://example.invalid/',
    'L:MIT',
    'o:app',
    'm:Test <test@example.invalid>',
    `t:${BUILD_TIME}`,
    'c:0123456789abcdef0123456789abcdef01234567',
    'D:so:libfoo.so.1 cmd:sh',
    'p:cmd:app=2.0-r3',
    'F:usr',
    'F:usr/bin',
    'R:app',
    'a:0:0:755',
    `Z:${q1('#!/bin/sh\necho app\n')}`,
    'F:etc',
    'R:app.conf',
    'a:0:42:640',
    `Z:${q1('secret=1\n')}`,
    'F:var/lib/app',
    'M:100:101:700',
  ]);
  const libRecord = installed.split('\n\n').find((r) => r.includes('\nP:libfoo\n'))!;
  t.match(libRecord, /\nF:usr\/lib\nR:libfoo\.so\.1\na:0:0:755\nZ:Q1\S+\nR:libfoo\.so\na:0:0:777\nZ:(\S+)/);
  t.ok(libRecord.endsWith(`Z:${q1('libfoo.so.1')}`), "a symlink's Z: is the SHA-1 of its target, as in the minirootfs");

  const scripts = new Map<string, string>();
  for await (const { entry, body } of readTar((async function* () { yield read(SCRIPTS); })())) {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c));
    scripts.set(entry.path, `${entry.mode.toString(8)} ${entry.mtime.sec} ${Buffer.concat(chunks).toString()}`);
  }
  t.equal(scripts.get(`app-2.0-r3.${q1(appControl)}.post-install`), `755 ${BUILD_TIME} #!/bin/sh\necho installed\n`);
  t.ok(scripts.has(`app-2.0-r3.${q1(appControl)}.trigger`));
  t.ok([...scripts.keys()].some((k) => k.startsWith('busybox-1.36.1-r29.')), "the base's scripts are kept");
  t.equal(read(TRIGGERS).toString(), `${originalTriggers}${q1(appControl)} /usr/share/app/plugins\n`);
  t.equal(read(WORLD).toString(), 'alpine-baselayout\nalpine-keys\napk-tools\napp\nbusybox\nlibc-utils\n');
});

t.test('refusals', async (t) => {
  const good = buildApk(libfoo, key);
  const wrongHash = buildApk({ ...libfoo, datahash: '0'.repeat(64) }, key);
  const other = buildApk(app, key);
  let env = await setup(t, [wrongHash]);
  await t.rejects(env.installer.install(env.resolved('libfoo')), { code: 'INTEGRITY', message: /data part of the package libfoo 1\.2-r0 .* not its \.PKGINFO's datahash 0{64}/ });
  t.equal(resolvePath(env.tree, '/usr/lib/libfoo.so.1')?.inode, undefined, 'nothing is unpacked');

  env = await setup(t, [good], [indexRecord(other).replace('P:app', 'P:libfoo').replace('V:2.0-r3', 'V:1.2-r0').replace(/S:\d+/, `S:${good.file.length}`)]);
  await t.rejects(env.installer.install(env.resolved('libfoo')), { code: 'INTEGRITY', message: /control part of the package libfoo 1\.2-r0 .* has the SHA-1 Q1\S+, not the index's Q1/ });

  // A data member whose file bytes differ from its checksum record, datahash made to match.
  const badData = gzipSync(tarball(paxMember({ 'APK-TOOLS.checksum.SHA1': sha1('good\n').toString('hex') }), member({ name: 'x', mode: 0o644 }, 'evil\n')));
  const forged = buildApk({ ...libfoo, files: [{ path: 'x', data: 'good\n' }], datahash: createHash('sha256').update(badData).digest('hex') }, key);
  const goodData = gzipSync(tarball(paxMember({ 'APK-TOOLS.checksum.SHA1': sha1('good\n').toString('hex') }), member({ name: 'x', mode: 0o644, mtime: BUILD_TIME, uname: 'root', gname: 'root' }, 'good\n')));
  t.ok(forged.file.subarray(forged.file.length - goodData.length).equals(goodData), 'the data member is the last one');
  const forgedFile = Buffer.concat([forged.file.subarray(0, forged.file.length - goodData.length), badData]);
  env = await setup(t, [{ ...forged, file: forgedFile }]);
  await t.rejects(env.installer.install(env.resolved('libfoo')), { code: 'INTEGRITY', message: /\/x of the package libfoo .* has the SHA-1 \S+, not the \S+ its archive records/ });

  const clash = buildApk({ name: 'clash', version: '1-r0', files: [{ path: 'bin' }, { path: 'bin/busybox', data: 'not busybox\n' }] }, key);
  env = await setup(t, [clash]);
  await t.rejects(env.installer.install(env.resolved('clash')), { code: 'PACKAGE', message: /\/bin\/busybox of the package clash .* is also in the package busybox, and clash does not replace it/ });
  const replacing = buildApk({ name: 'clash', version: '1-r0', replaces: ['busybox'], files: [{ path: 'bin' }, { path: 'bin/busybox', data: 'not busybox\n' }] }, key);
  env = await setup(t, [replacing]);
  await env.installer.install(env.resolved('clash'));
  t.equal(env.db.owner('/bin/busybox'), 'clash', 'replaces takes the file over');
});

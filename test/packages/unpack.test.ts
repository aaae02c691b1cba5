/**
 * Unpacking .debs into the tree (src/packages/deb/unpack.ts) and the dpkg database
 * (dpkg-db.ts), judged by the real tools: the tree equals what `dpkg-deb -x` extracts
 * from each package and, for python3's closure, what `dpkg --unpack` makes of the same
 * .debs; real `dpkg` reads the database back, and python3 runs in a chroot.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, truncateSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { DebInstaller } from '../../src/packages/deb/unpack.js';
import { DpkgDatabase } from '../../src/packages/deb/dpkg-db.js';
import { TreeEditor, lookup } from '../../src/tree/edit.js';
import { makeDir, makeRoot, toolMeta, type DirInode } from '../../src/tree/tree.js';
import { InfraError } from '../../src/errors.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { TEST_TIME, debianMinbaseDir, loadTree, materialize } from '../helpers/boot.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { assertSameTree, describeTree, type EntryFacts } from '../helpers/compare.js';
import { archiveClosure, buildDeb, resolvedDeb, treeReader } from './deb-fixtures.js';

const DPKG_TOOLS = ['dpkg', 'dpkg-deb', 'dpkg-query'];

/** The facts describeTree gives, for one path of a directory (parents followed). */
function factsAt(path: string): Omit<EntryFacts, 'linkGroup'> {
  const s = lstatSync(path);
  const type = s.isFile() ? 'file' : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : 'other';
  return {
    type,
    mode: s.mode & 0o7777,
    uid: s.uid,
    gid: s.gid,
    size: type === 'file' || type === 'symlink' ? s.size : 0,
    mtime: type === 'symlink' ? 0 : Math.floor(s.mtimeMs / 1000),
    ...(type === 'file' ? { content: createHash('sha256').update(readFileSync(path)).digest('hex') } : {}),
    ...(type === 'symlink' ? { target: readlinkSync(path, 'latin1') } : {}),
  };
}

async function installAll(root: DirInode, files: string[]): Promise<{ sink: MemorySink; db: DpkgDatabase }> {
  const sink = new MemorySink();
  const db = DpkgDatabase.read(treeReader(root));
  const installer = new DebInstaller(root, sink, db);
  for (const file of files) await installer.install(resolvedDeb(file));
  await db.write(new TreeEditor(root, sink, TEST_TIME));
  return { sink, db };
}

function dpkg(root: string, args: string[]): string {
  return execFileSync('dpkg', [`--root=${root}`, ...args], { encoding: 'utf8' });
}

t.test('the python3 closure from the archive, unpacked over the debootstrap base', async (t) => {
  if (!prerequisites(t, { tools: ['debootstrap', 'apt-get', 'chroot', ...DPKG_TOOLS], root: true })) return;
  const work = tempDir(t);
  const base = debianMinbaseDir();
  const debs = archiveClosure(base, ['python3']);
  t.ok(debs.length >= 10, `apt resolves python3 to ${debs.length} packages`);
  t.ok(debs.some((d) => /\.deb$/.test(d.file) && readFileSync(d.file).includes('data.tar.xz')), 'the archive ships data.tar.xz');
  const root = await loadTree(base);
  await installAll(root, debs.map((d) => d.file));
  const out = join(work, 'rootfs');
  await materialize(root, out);

  // Every member as dpkg-deb extracts it: type, mode, owner, size, mtime, content, target.
  const mismatches: string[] = [];
  let checked = 0;
  for (const deb of debs) {
    const extracted = join(work, 'x', deb.stanza.package);
    mkdirSync(extracted, { recursive: true });
    execFileSync('dpkg-deb', ['-x', deb.file, extracted]);
    const listed = dpkg(out, ['-L', deb.stanza.package]).split('\n').filter((l) => l !== '');
    const members = describeTree(extracted);
    t.same(new Set(listed), new Set(['/.', ...[...members.keys()].map((p) => `/${p}`)]), `dpkg -L ${deb.stanza.package} lists its members`);
    for (const [path, want] of members) {
      checked++;
      const { linkGroup: _, ...expected } = want;
      if (want.type === 'dir') {
        if (!statSync(join(out, path)).isDirectory()) mismatches.push(`${path}: not a directory`);
        continue;
      }
      const got = factsAt(join(out, path));
      if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push(`${path}: want ${JSON.stringify(expected)} got ${JSON.stringify(got)}`);
    }
  }
  t.same(mismatches.slice(0, 10), [], `${checked} members as dpkg-deb -x extracts them`);
  t.ok(lstatSync(join(out, 'lib')).isSymbolicLink(), 'merged /usr: /lib is still a symlink');

  const python = debs.find((d) => d.stanza.package === 'python3')!;
  const status = dpkg(out, ['-s', 'python3']);
  t.match(status, /^Status: install ok unpacked$/m, 'dpkg -s python3: unpacked');
  t.match(status, new RegExp(`^Version: ${python.stanza.version.replace(/[.+]/g, '\\$&')}$`, 'm'));
  t.match(dpkg(out, ['-s', 'libc6']), /^Status: install ok installed$/m, 'the base entries are kept');
  const installed = execFileSync('dpkg-query', [`--root=${out}`, '-W', '-f=${Package}\\n'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const baseCount = readFileSync(join(base, 'var/lib/dpkg/status'), 'utf8').match(/^Package: /gm)!.length;
  t.equal(installed.length, baseCount + debs.length, 'dpkg-query sees the base and every new package');
  const verify = spawnSync('dpkg', [`--root=${out}`, '-V', ...debs.map((d) => d.stanza.package)], { encoding: 'utf8' });
  t.equal(`${verify.stdout}${verify.stderr}`, '', 'dpkg -V: every file matches its md5sums');
  t.equal(verify.status, 0);
  const run = spawnSync('chroot', [out, '/usr/bin/python3', '-c', 'import json, ssl, sqlite3; print(json.dumps([1, 2]))'], { encoding: 'utf8' });
  t.equal(run.stdout, '[1, 2]\n', `python3 runs in the tree ${run.stderr}`);

  // The whole tree against real dpkg unpacking the same .debs, in the same order, into a
  // copy of the base (preinst scripts run chrooted; triggers are left pending).
  const reference = join(work, 'dpkg-unpack');
  execFileSync('cp', ['-a', base, reference]);
  execFileSync('dpkg', [`--root=${reference}`, '--force-depends', '--no-triggers', '--force-unsafe-io', '--unpack', ...debs.map((d) => d.file)], { stdio: 'ignore', timeout: 300_000 });
  const ours = unpackedFacts(out);
  const theirs = unpackedFacts(reference);
  const conffiles = [...theirs.keys()].filter((path) => path.endsWith('.dpkg-new'));
  t.same(conffiles.sort(), ['etc/mime.types.dpkg-new', 'etc/netconfig.dpkg-new', 'etc/python3.11/sitecustomize.py.dpkg-new'], 'dpkg leaves the conffiles under .dpkg-new until they are configured');
  for (const path of conffiles) {
    const final = path.slice(0, -'.dpkg-new'.length);
    theirs.set(final, { ...theirs.get(path)!, linkGroup: final });
    theirs.delete(path);
  }
  // python3.11-minimal's preinst records the new runtime: a script's effect (not run here).
  for (const path of ['var/lib/python', 'var/lib/python/python3.11_installed']) t.ok(theirs.delete(path), `${path}: made by a preinst`);
  t.ok(theirs.size > 7000, `${theirs.size} entries`);
  assertSameTree(t, theirs, ours, 'the tree dpkg --unpack makes');
});

/**
 * Every entry of an unpacked root but the dpkg database and logs, without directory
 * times: dpkg leaves a directory it writes into at the time of the write.
 */
function unpackedFacts(root: string): Map<string, EntryFacts> {
  const facts = describeTree(root);
  for (const [path, entry] of facts) {
    if (path === 'var/lib/dpkg' || path.startsWith('var/lib/dpkg/') || path.startsWith('var/log/')) facts.delete(path);
    else if (entry.type === 'dir') facts.set(path, { ...entry, mtime: 0 });
  }
  return facts;
}

/** A merged-/usr tree with an empty dpkg database. */
function mergedUsrRoot(): DirInode {
  const root = makeRoot(TEST_TIME);
  const usr = makeDir(toolMeta(0o755, TEST_TIME));
  usr.children.set('lib', makeDir(toolMeta(0o755, TEST_TIME)));
  root.children.set('usr', usr);
  root.children.set('lib', { kind: 'symlink', ...toolMeta(0o777, TEST_TIME), target: 'usr/lib' });
  return root;
}

t.test('dpkg semantics on packages built with dpkg-deb', async (t) => {
  if (!prerequisites(t, { tools: DPKG_TOOLS, root: true })) return;
  const work = tempDir(t);
  const merged = buildDeb(work, { name: 'merged', compression: 'gzip', files: { 'lib/merged/': '', 'lib/merged/data': 'merged\n' } });
  const alpha = buildDeb(work, {
    name: 'alpha',
    compression: 'zstd',
    files: { 'usr/share/shared/file': 'alpha\n', 'etc/alpha.conf': 'setting = 1\n', 'usr/bin/alpha': '-> ../share/shared/file' },
    conffiles: ['/etc/alpha.conf'],
    postinst: '#!/bin/sh\nexit 0\n',
  });
  const beta = buildDeb(work, { name: 'beta', files: { 'usr/share/shared/file': 'beta\n' } });
  const gamma = buildDeb(work, { name: 'gamma', control: ['Replaces: alpha (<< 2)'], files: { 'usr/share/shared/file': 'gamma\n' } });

  const root = mergedUsrRoot();
  const sink = new MemorySink();
  const db = DpkgDatabase.read(treeReader(root));
  const installer = new DebInstaller(root, sink, db);
  for (const file of [merged, alpha]) await installer.install(resolvedDeb(file));
  t.equal(root.children.get('lib')?.kind, 'symlink', '/lib stays a symlink when a package ships ./lib/');
  t.equal(lookup(root, '/usr/lib/merged/data')?.kind, 'file', 'its files land in /usr/lib');

  const refused = await installer.install(resolvedDeb(beta)).catch((err: unknown) => err);
  t.ok(refused instanceof InfraError && refused.code === 'PACKAGE', 'a file of another package is refused');
  t.match((refused as Error).message, /\/usr\/share\/shared\/file of the package beta .* is also in the package alpha, and beta does not declare Replaces: alpha/);
  await installer.install(resolvedDeb(gamma));
  await db.write(new TreeEditor(root, sink, TEST_TIME));

  const out = join(work, 'rootfs');
  await materialize(root, out);
  t.equal(readFileSync(join(out, 'usr/share/shared/file'), 'utf8'), 'gamma\n', 'Replaces: the replacing package wins');
  t.equal(dpkg(out, ['-S', '/usr/share/shared/file']), 'gamma: /usr/share/shared/file\n', 'and owns the file alone');
  t.notMatch(dpkg(out, ['-L', 'alpha']), /shared\/file/, "the file left alpha's list");
  const md5 = createHash('md5').update('setting = 1\n').digest('hex');
  t.match(dpkg(out, ['-s', 'alpha']), new RegExp(`^Conffiles:\\n /etc/alpha.conf ${md5}$`, 'm'), 'conffiles recorded with their md5');
  t.equal(lstatSync(join(out, 'var/lib/dpkg/info/alpha.postinst')).mode & 0o777, 0o755, 'maintainer scripts kept, executable');
  t.equal(readFileSync(join(out, 'var/lib/dpkg/info/alpha.conffiles'), 'utf8'), '/etc/alpha.conf\n');
  t.equal(readlinkSync(join(out, 'usr/bin/alpha')), '../share/shared/file');
  t.match(dpkg(out, ['-L', 'merged']), /^\/lib\/merged\/data$/m, 'the list keeps the names as the package ships them');
});

t.test('broken .debs are refused with advice', async (t) => {
  if (!prerequisites(t, { tools: DPKG_TOOLS })) return;
  const work = tempDir(t);
  const good = buildDeb(work, { name: 'whole', files: { 'usr/share/whole/data': 'x'.repeat(100_000) } });
  const cut = join(work, 'cut.deb');
  copyFileSync(good, cut);
  truncateSync(cut, Math.floor(statSync(good).size / 2));
  const notDeb = join(work, 'text.deb');
  copyFileSync(join(work, 'whole-src/DEBIAN/control'), notDeb);
  for (const [file, pattern] of [
    [cut, /is not a valid \.deb \(it ends inside the member (control|data)\.tar\.xz\)/],
    [notDeb, /is not a valid \.deb \(it does not start with the ar magic/],
  ] as const) {
    const root = mergedUsrRoot();
    const installer = new DebInstaller(root, new MemorySink(), DpkgDatabase.read(() => undefined));
    const err = await installer.install({ ...resolvedDeb(good), file }).catch((e: unknown) => e);
    t.ok(err instanceof InfraError && err.code === 'PACKAGE', `${file}: PACKAGE error`);
    t.match((err as Error).message, pattern);
  }
});

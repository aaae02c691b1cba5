/**
 * The static configuration (src/packages/configure/) against dpkg itself: `rootfs create
 * --configure static` for java (openjdk-17-jdk-headless), php (php-cli), rust's gcc
 * (rustc, cargo) and ca-certificates on the debootstrap minbase, beside a chroot of the
 * same minbase where the same .debs are `dpkg --unpack`ed in the same order and
 * `dpkg --configure -a` runs. Compared: every alternative (administrative file, the
 * /etc/alternatives link, master and slave links), /etc/ssl/certs (bundle bytes, .pem and
 * hash links), /etc/ca-certificates.conf, /etc/php and /var/lib/php, ucf's hashfile and
 * registry, the statoverride file, java's small files, the JKS keystore by content
 * (keytool -list -rfc), and the dpkg status of every package the handlers completed.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { defaultCacheDir } from '../../src/image/cache.js';
import { withExt4File, type DirectoryEntry, type Ext4File } from '../../src/ext4/reader.js';
import { resolveDebs } from '../../src/packages/deb/resolve.js';
import { debianMinbaseDir } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { baseFromDir } from './deb-repo-fixture.js';

/** A build, and a chroot where dpkg unpacks and configures 107 packages: longer than the suite's per-file limit. */
t.setTimeout(1_800_000);

const EXTRA = ['openjdk-17-jdk-headless', 'php-cli', 'rustc', 'cargo'];
/** What the language table adds to `--lang bash` (already in the base) for every image. */
const ALWAYS = ['bash', 'ca-certificates'];
/** Trees whose every entry is compared. */
const TREES = ['/var/lib/dpkg/alternatives', '/etc/alternatives', '/etc/ssl/certs', '/etc/php', '/var/lib/php', '/etc/.java'];
const FILES = ['/etc/ca-certificates.conf', '/var/lib/ucf/hashfile', '/var/lib/ucf/registry', '/var/lib/dpkg/statoverride', '/usr/lib/ssl', '/usr/local/share/ca-certificates'];

/** What both sides are compared by: type, mode, owner, and the link target or a file's sha256. */
type Facts = string;

function hostFacts(root: string, path: string): Facts {
  const full = join(root, path);
  if (!existsSync(full) && !isLink(full)) return 'missing';
  const st = lstatSync(full);
  const owner = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  if (st.isSymbolicLink()) return `l -> ${readlinkSync(full, 'latin1')}`;
  if (st.isDirectory()) return `d ${owner}`;
  return `- ${owner} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Directory listings of the image, each read once. */
const listings = new Map<string, Promise<DirectoryEntry[] | undefined>>();
function listImage(image: Ext4File, dir: string): Promise<DirectoryEntry[] | undefined> {
  let listing = listings.get(dir);
  if (listing === undefined) listings.set(dir, (listing = image.list(dir).catch(() => undefined)));
  return listing;
}

async function imageFacts(image: Ext4File, path: string): Promise<Facts> {
  const entries = await listImage(image, dirname(path));
  if (entries === undefined) return 'missing';
  const entry = entries.find((e) => e.name === Buffer.from(path.slice(path.lastIndexOf('/') + 1)).toString('latin1'));
  if (entry === undefined) return 'missing';
  const owner = `${entry.permissions.toString(8)} ${entry.uid}:${entry.gid}`;
  if (entry.type === 'l') return `l -> ${entry.target}`;
  if (entry.type === 'd') return `d ${owner}`;
  const hash = createHash('sha256');
  for await (const chunk of image.read(path)) hash.update(chunk);
  return `- ${owner} ${hash.digest('hex')}`;
}

/** Every path below `dir` in the chroot. */
function walkHost(root: string, dir: string): string[] {
  const full = join(root, dir);
  if (!existsSync(full) || !lstatSync(full).isDirectory()) return [];
  return readdirSync(full).flatMap((name) => [`${dir}/${name}`, ...walkHost(root, `${dir}/${name}`)]);
}

async function walkImage(image: Ext4File, dir: string): Promise<string[]> {
  const entries = (await listImage(image, dir)) ?? [];
  const paths: string[] = [];
  for (const entry of entries) {
    const path = `${dir}/${Buffer.from(entry.name, 'latin1').toString('utf8')}`;
    paths.push(path, ...(entry.type === 'd' ? await walkImage(image, path) : []));
  }
  return paths;
}

/** The links an alternatives administrative file names: the master's and each slave's. */
function alternativeLinks(admin: string): string[] {
  const lines = admin.split('\n');
  const links = [lines[1]!];
  for (let i = 2; lines[i] !== '' && i < lines.length; i += 2) links.push(lines[i + 1]!);
  return links;
}

function statusOf(status: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const stanza of status.split('\n\n')) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    const state = /^Status: (.+)$/m.exec(stanza)?.[1];
    if (name && state) map.set(name, state);
  }
  return map;
}

t.test('--configure static equals dpkg --configure -a in a chroot (java, php, gcc, ca-certificates)', async (t) => {
  if (!prerequisites(t, { root: true, tools: ['debootstrap', 'dpkg', 'chroot', 'mount', 'keytool'] })) return;
  const work = tempDir(t);
  const minbase = debianMinbaseDir();
  const tarball = join(work, 'debian.tar');
  execFileSync('tar', ['-C', minbase, '--numeric-owner', '-cf', tarball, '.']);
  const imagePath = join(work, 'rootfs.ext4');
  const created = await runCli(
    ['rootfs', 'create', '--lang', 'bash', '--packages', EXTRA.join(','), '--configure', 'static', '--base', `tar:${tarball}`, '--size', '2048', '--output', imagePath, '--json'],
    { timeoutMs: 1_800_000 },
  );
  if (created.status !== 0) t.comment(created.stderr.slice(-3000));
  t.equal(created.status, 0, 'create exits 0');
  const summary = JSON.parse(created.stdout) as { configured: string[]; unconfigured: string[] };
  t.match(created.stderr, /\[6\/8\] Configuring packages/);
  t.match(created.stderr, /packages stay unconfigured/, 'the command names the packages left unpacked');
  t.ok(summary.configured.includes('openjdk-17-jre-headless') && summary.configured.includes('php8.2-cli') && summary.configured.includes('gcc'), 'java, php and gcc configured');

  // The chroot: the same .debs, in the same order, unpacked and configured by dpkg.
  const debs = await resolveDebs({ ...(await baseFromDir(minbase)), packages: [...ALWAYS, ...EXTRA], arch: 'amd64', cacheDir: join(defaultCacheDir(), 'debs') });
  const chroot = join(work, 'chroot');
  execFileSync('cp', ['-a', minbase, chroot]); // device nodes too
  const names = debs.map((deb, i) => {
    const name = `/tmp/${String(i).padStart(3, '0')}.deb`;
    cpSync(deb.file, join(chroot, name));
    return name;
  });
  execFileSync('mount', ['-t', 'proc', 'proc', join(chroot, 'proc')]);
  try {
    execFileSync('chroot', [chroot, 'dpkg', '--unpack', ...names], { stdio: 'ignore', timeout: 1_200_000 });
    execFileSync('chroot', [chroot, 'dpkg', '--configure', '-a'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: 'ignore', timeout: 1_200_000 });
  } finally {
    execFileSync('umount', [join(chroot, 'proc')]);
  }

  await withExt4File(imagePath, async (image) => {
    const paths = new Set<string>(FILES);
    for (const dir of TREES) for (const path of [...walkHost(chroot, dir), ...(await walkImage(image, dir))]) paths.add(path);
    for (const name of readdirSync(join(chroot, 'var/lib/dpkg/alternatives'))) {
      for (const link of alternativeLinks(readFileSync(join(chroot, 'var/lib/dpkg/alternatives', name), 'latin1'))) paths.add(link);
    }
    const differences: string[] = [];
    for (const path of [...paths].sort()) {
      if (path === '/etc/ssl/certs/java/cacerts') continue; // compared by content below
      const [ours, dpkgs] = [await imageFacts(image, path), hostFacts(chroot, path)];
      // Times are not compared; a directory's owner and mode are (file modes too).
      if (ours !== dpkgs) differences.push(`${path}: ours ${ours}, dpkg's ${dpkgs}`);
    }
    t.same(differences, [], `${paths.size} paths equal`);
    t.ok(paths.size > 500, 'alternatives, certificates and php state were compared');

    const keystore = join(work, 'cacerts');
    const chunks: Buffer[] = [];
    for await (const chunk of image.read('/etc/ssl/certs/java/cacerts')) chunks.push(chunk);
    writeFileSync(keystore, Buffer.concat(chunks));
    const list = (file: string) => execFileSync('keytool', ['-list', '-rfc', '-keystore', file, '-storepass', 'changeit'], { encoding: 'utf8' }).replace(/^Creation date: .*$/gm, '');
    const ours = list(keystore);
    t.match(ours, /Keystore type: JKS/);
    t.match(ours, /Your keystore contains 1\d\d entries/);
    t.equal(ours, list(join(chroot, 'etc/ssl/certs/java/cacerts')), 'the JKS keystore: same aliases and certificates (keytool -list -rfc)');

    const statusChunks: Buffer[] = [];
    for await (const chunk of image.read('/var/lib/dpkg/status')) statusChunks.push(chunk);
    const ourStatus = statusOf(Buffer.concat(statusChunks).toString('utf8'));
    const dpkgStatus = statusOf(readFileSync(join(chroot, 'var/lib/dpkg/status'), 'utf8'));
    for (const name of summary.configured) t.equal(ourStatus.get(name), dpkgStatus.get(name), `${name}: ${dpkgStatus.get(name)}`);
    for (const name of summary.unconfigured) t.equal(ourStatus.get(name), 'install ok unpacked', `${name} stays unpacked`);
  });
});

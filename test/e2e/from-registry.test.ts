/**
 * from-docker end to end against the real docker-registry on loopback: platform selection
 * down to the ELF header of /bin/busybox, and a multi-layer image with whiteouts, opaque
 * directories, hard links, devices, setuid bits and xattrs whose image must equal what
 * `umoci raw unpack` makes of the same image, entry by entry, read back by the kernel.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, symlinkSync, linkSync, chmodSync, chownSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE_ARM, ALPINE_X86, mountReadOnly, prerequisites, tempDir } from '../helpers/env.js';
import { cli } from '../helpers/cli.js';
import { assertClean, cat } from '../helpers/image.js';
import { assertSameTree, describeTree } from '../helpers/compare.js';
import { LayoutWriter, pushLayout } from '../helpers/oci-build.js';
import { startRegistry } from '../helpers/registry.js';

const NEEDS = {
  tools: ['docker-registry', 'skopeo', 'umoci', 'e2fsck', 'debugfs', 'tar', 'setfattr', 'getfattr', 'mknod'],
  files: [ALPINE_X86, ALPINE_ARM],
  root: true,
};

function fromDocker(args: string[], env: NodeJS.ProcessEnv = {}) {
  return cli(['rootfs', 'from-docker', ...args], { env: { ...process.env, ...env }, timeoutMs: 300_000 });
}

/** e_machine of an ELF file (offset 18, little-endian): 0x3e x86-64, 0xb7 aarch64. */
const elfMachine = (bytes: Buffer) => (bytes.subarray(0, 4).toString('latin1') === '\x7fELF' ? bytes.readUInt16LE(18) : -1);

t.test('a two-platform index: --platform picks the architecture, down to the ELF header', async (t) => {
  if (!prerequisites(t, NEEDS)) return;
  const scratch = tempDir(t);
  const registry = await startRegistry(t);
  const layout = new LayoutWriter(join(scratch, 'layout'));
  const amd64 = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86] });
  const arm64 = layout.addImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layers: [ALPINE_ARM] });
  layout.tagIndex([amd64, arm64], 'multi');
  await pushLayout(layout.dir, 'multi', `${registry.host}/library/alpine:3.20`);
  const cache = join(scratch, 'cache');
  for (const [platform, machine] of [['linux/arm64', 0xb7], ['linux/amd64', 0x3e]] as const) {
    const img = join(scratch, `${platform.replace('/', '-')}.ext4`);
    const r = fromDocker(['-n', 'alpine', '-i', `${registry.host}/library/alpine:3.20`, '-s', '64', '-o', img, '--platform', platform, '--init', 'none', '--guest-runner', 'none'], {
      INFRA_OPERATOR_CACHE_DIR: cache,
    });
    t.equal(r.status, 0, `${platform}: built`, { stderr: r.stderr });
    assertClean(t, img, scratch);
    t.equal(elfMachine(cat(img, '/bin/busybox')), machine, `${platform}: /bin/busybox is ELF machine 0x${machine.toString(16)}`);
  }
  const json = fromDocker(['-n', 'alpine', '-i', `docker://${registry.host}/library/alpine:3.20`, '-s', 'auto', '-o', join(scratch, 'boot.ext4'), '--json'], { INFRA_OPERATOR_CACHE_DIR: cache });
  t.equal(json.status, 0, 'the default bootable build', { stderr: json.stderr });
  const doc = JSON.parse(json.stdout);
  t.equal(doc.source.digest, amd64.manifestDigest, 'the JSON names the manifest digest');
  t.same(doc.source.platform, { os: 'linux', architecture: 'amd64' });
  t.equal(doc.boot.init, 'busybox', 'Alpine without OpenRC gets BusyBox init');
  t.match(json.stderr, /\[6\/6\] Creating service\.\.\.\n  Size chosen: \d+ MB\nCreated: /, 'under --json the steps go to stderr');
  assertClean(t, join(scratch, 'boot.ext4'), scratch);
});

/** Three layers exercising the layer rules, each a plain tar made by GNU tar. */
function layeredImage(scratch: string): string[] {
  const layers: string[] = [];
  const make = (n: number, fill: (root: string) => void) => {
    const root = join(scratch, `layer${n}`);
    mkdirSync(root, { recursive: true });
    fill(root);
    const file = join(scratch, `layer${n}.tar`);
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-cf', file, '-C', root, '.']);
    layers.push(file);
  };
  make(1, (r) => {
    for (const d of ['etc', 'usr/lib', 'var/cache/apt', 'opt/app', 'gone']) mkdirSync(join(r, d), { recursive: true });
    writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(r, 'etc/secret'), 'to be whited out');
    writeFileSync(join(r, 'var/cache/apt/pkgcache.bin'), Buffer.alloc(50000, 7));
    writeFileSync(join(r, 'opt/app/old'), 'old');
    writeFileSync(join(r, 'gone/x'), 'x');
    writeFileSync(join(r, 'usr/lib/libc.so'), Buffer.alloc(20000, 9));
    linkSync(join(r, 'usr/lib/libc.so'), join(r, 'usr/lib/libc.so.6'));
    symlinkSync('usr/lib', join(r, 'lib'));
    writeFileSync(join(r, 'usr/lib/su'), 'setuid');
    chmodSync(join(r, 'usr/lib/su'), 0o4755);
    execFileSync('mknod', [join(r, 'etc/null'), 'c', '1', '3']);
    execFileSync('setfattr', ['-n', 'user.origin', '-v', '0xff00fe', join(r, 'usr/lib/su')]);
    chownSync(join(r, 'opt/app'), 1000, 1000);
  });
  make(2, (r) => {
    for (const d of ['etc', 'opt/app', 'var/cache/apt']) mkdirSync(join(r, d), { recursive: true });
    writeFileSync(join(r, 'etc/.wh.secret'), '');
    writeFileSync(join(r, '.wh.gone'), '');
    writeFileSync(join(r, 'opt/app/.wh..wh..opq'), '');
    writeFileSync(join(r, 'opt/app/new'), 'new');
    writeFileSync(join(r, 'var/cache/apt/.wh.pkgcache.bin'), '');
    writeFileSync(join(r, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n');
    mkdirSync(join(r, 'lib'), { recursive: true }); // a directory entry over the lib -> usr/lib symlink
    writeFileSync(join(r, 'lib/added.so'), 'in a real lib/ now');
  });
  make(3, (r) => {
    mkdirSync(join(r, 'usr/lib'), { recursive: true });
    writeFileSync(join(r, 'usr/lib/libc.so'), 'replaced: the other name keeps the old inode');
    execFileSync('setfattr', ['-n', 'user.layer', '-v', '3', join(r, 'usr/lib/libc.so')]);
  });
  return layers;
}

t.test('a multi-layer image equals umoci raw unpack of it, entry by entry', async (t) => {
  if (!prerequisites(t, NEEDS)) return;
  const scratch = tempDir(t);
  const registry = await startRegistry(t);
  const layout = new LayoutWriter(join(scratch, 'layout'));
  const image = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: layeredImage(scratch) });
  layout.tagImage(image, 'layered');
  await pushLayout(layout.dir, 'layered', `${registry.host}/test/layered:1`);

  const img = join(scratch, 'layered.ext4');
  const r = fromDocker(['-n', 'layered', '-i', `${registry.host}/test/layered:1`, '-s', '32', '-o', img, '--init', 'none', '--guest-runner', 'none', '--no-cache']);
  t.equal(r.status, 0, 'built from the registry', { stderr: r.stderr });
  assertClean(t, img, scratch);

  const oci = join(scratch, 'pulled');
  execFileSync('skopeo', ['copy', '--quiet', '--insecure-policy', '--src-tls-verify=false', `docker://${registry.host}/test/layered:1`, `oci:${oci}:layered`]);
  const unpacked = join(scratch, 'umoci');
  execFileSync('umoci', ['raw', 'unpack', '--image', `${oci}:layered`, unpacked]);

  const mnt = mountReadOnly(t, img);
  if (!mnt) return;
  const expected = describeTree(unpacked);
  const n = assertSameTree(t, expected, describeTree(mnt, ['lost+found']), 'image vs umoci');
  t.ok(n >= 15, `${n} entries compared`);
  t.notOk(expected.has('etc/secret'), 'the whiteout removed etc/secret');
  t.notOk(expected.has('gone'), 'and the whole gone/ directory');
  t.same([...expected.keys()].filter((p) => p.startsWith('opt/app/')), ['opt/app/new'], 'the opaque directory hides the lower layer');
  t.equal(expected.get('lib')?.type, 'dir', 'a directory entry replaces the symlink it lands on');
  t.equal(readFileSync(join(mnt, 'lib/added.so'), 'utf8'), 'in a real lib/ now');
  t.equal(readFileSync(join(mnt, 'usr/lib/libc.so.6')).length, 20000, 'the other hard-link name keeps the old inode');
  for (const [path, name] of [['usr/lib/su', 'user.origin'], ['usr/lib/libc.so', 'user.layer']]) {
    const get = (root: string) => execFileSync('getfattr', ['--only-values', '-n', name!, join(root, path!)]);
    t.same(get(mnt), get(unpacked), `${name} on ${path} as umoci has it`);
  }
});

/**
 * Issue 9, "Host files", reproduced against the built CLI: symlinks planted at the old
 * predictable temporary names and at the final paths, SIGINT/SIGTERM mid-pull, mid-build
 * and mid-download (exit 130/143, nothing of ours left), and the sweep of a dead process's
 * temporaries by the next run. Loopback servers only: our layout registry, s3rver.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseTemporaryName, TEMP_HOST } from '../../src/io/temp.js';
import { sidecarPathFor } from '../../src/store/paths.js';
import { writeSidecar } from '../../src/store/sidecar.js';
import { cli, spawnCli } from '../helpers/cli.js';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { LayoutWriter, smallLayer } from '../helpers/oci-build.js';
import { startStaticRegistry } from '../helpers/registry.js';
import { startS3rver } from '../helpers/s3rver.js';

const MIB = 1024 * 1024;
const BUCKET = 'host-files';
/** How many pids after the last one handed out get a planted symlink: the CLI's pid is among them. */
const PLANTED_PIDS = 4000;
const WAIT_MS = 60_000;

if (!prerequisites(t, { tools: ['tar'], files: [ALPINE_X86] })) process.exit(0);

/** Our temporary files in `dir` (any host, any pid). */
function temporariesIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => parseTemporaryName(name) !== undefined);
}

/** Polls `check` every 20 ms until it returns a value, for at most `ms`. */
async function waitFor<T>(what: string, check: () => T | undefined, ms = WAIT_MS): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(20)) {
    const value = check();
    if (value !== undefined) return value;
  }
  throw new Error(`gave up after ${ms} ms waiting for ${what}`);
}

function exited(child: ReturnType<typeof spawnCli>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/** The next PLANTED_PIDS pids the kernel will hand out (wrapping at pid_max). */
function upcomingPids(): number[] {
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  const max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  // Past pid_max the kernel starts again above 300 (RESERVED_PIDS).
  return Array.from({ length: PLANTED_PIDS }, (_, i) => (last + 1 + i < max ? last + 1 + i : last + 1 + i - max + 301));
}

/** A pid that existed and no longer does. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

/** Victim files outside the output directory, and symlinks to them at `paths`. */
function plant(t: Test, paths: string[]): { check(): void } {
  const victims = tempDir(t, 'infra-op-victims-');
  const planted = paths.map((path, i) => {
    const victim = join(victims, `victim-${i}`);
    writeFileSync(victim, `precious ${i}\n`);
    symlinkSync(victim, path);
    return { path, victim, i };
  });
  return {
    check() {
      const touched = planted.filter(({ victim, i }) => readFileSync(victim, 'utf8') !== `precious ${i}\n`);
      t.same(touched.map((p) => p.path), [], `none of the ${planted.length} symlink targets was written`);
    },
  };
}

/** Temporaries for the sweep: one of a dead process of this host, and three that must stay. */
async function plantStale(dir: string, base: string): Promise<{ dead: string; kept: string[] }> {
  const name = (pid: number, host = TEMP_HOST) => `.${base}.0123456789abcdef.${host}.${pid}.tmp`;
  const dead = name(await deadPid());
  const kept = [name(process.pid), name(await deadPid(), 'another-host'), `.${base}.0123456789abcdef.tmp`];
  for (const file of [dead, ...kept]) writeFileSync(join(dir, file), 'left over\n');
  return { dead, kept };
}

t.test('from-docker: symlinks at the old temporary names and at the image path are replaced, never followed; one at the sidecar path is refused; a dead run\'s temporary is swept', async (t) => {
  const out = tempDir(t);
  const image = join(out, 'rootfs-x.ext4');
  const sidecar = sidecarPathFor(image);
  const pids = upcomingPids();
  const attack = plant(t, [image, ...pids.map((pid) => `${sidecar}.tmp-${pid}`)]);
  const stale = await plantStale(out, basename(image));

  const child = spawnCli(['rootfs', 'from-docker', '-n', 'x', '-i', `tar:${ALPINE_X86}`, '-s', '64', '-o', image, '--init', 'none', '--guest-runner', 'none']);
  const r = await exited(child);
  t.equal(r.code, 0, r.stderr);
  t.ok(pids.includes(child.pid!), `the CLI's pid ${child.pid} was among the planted names`);
  attack.check();
  t.ok(lstatSync(image).isFile(), 'the image is a regular file');
  t.ok(lstatSync(sidecar).isFile(), 'the sidecar is a regular file');
  t.equal(JSON.parse(readFileSync(sidecar, 'utf8')).size, 64 * MIB);
  t.ok(lstatSync(`${sidecar}.tmp-${child.pid}`).isSymbolicLink(), 'the symlink at the old name is left alone');
  t.same(temporariesIn(out).sort(), stale.kept.filter((n) => parseTemporaryName(n)).sort(), 'the dead process\'s temporary is gone; the live one and another host\'s stay');
  t.ok(readdirSync(out).includes(stale.kept[2]!), 'a name not of our pattern stays');

  // A symlink where the sidecar goes is not a sidecar of ours: refused before any work.
  const other = tempDir(t);
  const otherImage = join(other, 'rootfs-x.ext4');
  const link = plant(t, [sidecarPathFor(otherImage)]);
  const refused = await exited(spawnCli(['rootfs', 'from-docker', '-n', 'x', '-i', `tar:${ALPINE_X86}`, '-s', '64', '-o', otherImage, '--init', 'none', '--guest-runner', 'none']));
  t.equal(refused.code, 1, refused.stderr);
  t.match(refused.stderr, /is in the way of the image's sidecar and is not an infra\.operator sidecar/);
  link.check();
  t.same(readdirSync(other), [basename(sidecarPathFor(otherImage))], 'nothing written beside it');
});

t.test('SIGINT while a registry trickles a blob: exit 130, the partial blob and nothing else left; the next pull sweeps a dead run\'s blob', async (t) => {
  const scratch = tempDir(t);
  const layout = new LayoutWriter(join(scratch, 'layout'));
  const built = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [smallLayer(scratch, 'hello', 'hello\n'.repeat(1000))] });
  layout.tagImage(built, 'latest');
  const layer = built.layers[0]!;
  let stall = true;
  const registry = await startStaticRegistry(t, {
    layoutDir: layout.dir,
    intercept: (req, res) => {
      if (!stall || !req.url!.endsWith(`/blobs/${layer.digest}`)) return false;
      // Half the blob, then nothing: the pull waits with a partial blob in the cache's tmp/.
      res.writeHead(200, { 'content-length': layer.size, 'content-type': 'application/octet-stream' });
      res.write(readFileSync(join(layout.dir, 'blobs', 'sha256', layer.digest.slice(7))).subarray(0, layer.size >> 1));
      return true;
    },
  });
  const cache = tempDir(t);
  const dockerConfig = join(scratch, 'docker');
  mkdirSync(dockerConfig);
  const env = { ...process.env, INFRA_OPERATOR_CACHE_DIR: cache, DOCKER_CONFIG: dockerConfig };
  const out = tempDir(t);
  const args = ['rootfs', 'from-docker', '-n', 'hello', '-i', `${registry.host}/test/hello:latest`, '-s', '16', '-o', join(out, 'hello.ext4'), '--init', 'none', '--guest-runner', 'none'];
  const child = spawnCli(args, { env });
  const result = exited(child);
  const tmp = join(cache, 'tmp');
  const partial = await waitFor('a partial blob in the cache', () => {
    const names = (() => {
      try {
        return temporariesIn(tmp);
      } catch {
        return [];
      }
    })();
    return names.find((name) => statSync(join(tmp, name)).size > 0);
  });
  t.ok(parseTemporaryName(partial)?.pid === child.pid, `the partial blob ${partial} is the CLI's`);
  child.kill('SIGINT');
  const r = await result;
  t.equal(r.code, 130, 'exit 128 + 2');
  t.match(r.stderr, /Interrupted by SIGINT: the files it was writing were removed\.\n$/);
  t.same(readdirSync(tmp), [], 'no partial blob left in the cache');
  t.same(readdirSync(join(cache, 'blobs', 'sha256')).filter((h) => h === layer.digest.slice(7)), [], 'no entry under the digest');
  t.same(readdirSync(out), [], 'nothing at the output');

  // A run killed outright (SIGKILL, a power cut) leaves its blob: the next pull removes it.
  const stale = await plantStale(tmp, layer.digest.slice(7));
  stall = false;
  // Not spawnSync: the registry answers from this process's event loop.
  const again = await exited(spawnCli(args, { env }));
  t.equal(again.code, 0, again.stderr);
  t.same(readdirSync(tmp).sort(), stale.kept.sort(), 'the dead run\'s temporary swept, the others kept');
});

t.test('SIGTERM while the ext4 temporary is being written from a large tar: input: exit 143, nothing left', async (t) => {
  const scratch = tempDir(t);
  const tree = join(scratch, 'tree');
  mkdirSync(tree);
  // Non-zero data (zeros would become holes and go fast): a few seconds of writing.
  const chunk = Buffer.alloc(MIB, 0x5a);
  for (let f = 0; f < 6; f++) writeFileSync(join(tree, `big-${f}`), Buffer.concat(Array.from({ length: 64 }, () => chunk)));
  const input = join(scratch, 'big.tar');
  execFileSync('tar', ['-cf', input, '-C', tree, '.']);
  const out = tempDir(t);
  const child = spawnCli(['rootfs', 'from-docker', '-n', 'big', '-i', `tar:${input}`, '-s', '512', '-o', join(out, 'rootfs-big.ext4'), '--init', 'none', '--guest-runner', 'none']);
  const result = exited(child);
  const temporary = await waitFor('the image\'s temporary file', () => temporariesIn(out)[0]);
  t.match(temporary, /^\.rootfs-big\.ext4\.[0-9a-f]{16}\..+\.\d+\.tmp$/);
  child.kill('SIGTERM');
  const r = await result;
  t.equal(r.code, 143, `exit 128 + 15 (${r.stderr.trim()})`);
  t.match(r.stderr, /Interrupted by SIGTERM: the files it was writing were removed\.\n$/);
  t.same(readdirSync(out), [], 'no temporary, no image, no sidecar');
});

t.test('download', async (t) => {
  const server = await startS3rver(t, [BUCKET]);
  const images = tempDir(t);
  const source = join(images, 'rootfs-big.ext4');
  // 48 MiB of non-zero bytes, so the download writes every block.
  writeFileSync(source, Buffer.concat(Array.from({ length: 48 }, (_, i) => Buffer.alloc(MIB, (i % 250) + 1))));
  await writeSidecar(source, { name: 'big', image: 'tar:big', digest: `sha256:${'ab'.repeat(32)}`, usedBytes: 1, inodes: { count: 2, used: 1 } });
  const up = cli(['rootfs', 'upload', '--lang', 'big', '--images-dir', images, '--bucket', `s3://${BUCKET}`], { env: server.env });
  t.equal(up.status, 0, up.stderr);

  t.test('symlinks at the old .partial-PID names and at the image path are replaced, never followed; a dead run\'s temporary is swept', async (t) => {
    const out = tempDir(t);
    const target = join(out, 'rootfs-big.ext4');
    const sidecar = sidecarPathFor(target);
    const pids = upcomingPids();
    const attack = plant(t, [target, ...pids.map((pid) => join(out, `.rootfs-big.ext4.partial-${pid}`)), ...pids.map((pid) => `${sidecar}.tmp-${pid}`)]);
    const stale = await plantStale(out, 'rootfs-big.ext4');
    const child = spawnCli(['rootfs', 'download', '--lang', 'big', '--bucket', `s3://${BUCKET}`, '--output', target], { env: server.env });
    const r = await exited(child);
    t.equal(r.code, 0, r.stderr);
    t.ok(pids.includes(child.pid!), `the CLI's pid ${child.pid} was among the planted names`);
    attack.check();
    t.ok(lstatSync(target).isFile(), 'the image is a regular file');
    t.same(readFileSync(target), readFileSync(source), 'the bytes downloaded');
    t.ok(lstatSync(sidecar).isFile(), 'the sidecar is a regular file');
    t.ok(lstatSync(join(out, `.rootfs-big.ext4.partial-${child.pid}`)).isSymbolicLink(), 'the symlink at the old name is left alone');
    t.same(temporariesIn(out).sort(), stale.kept.filter((n) => parseTemporaryName(n)).sort(), 'the dead run\'s temporary swept, the others kept');
  });

  t.test('SIGINT mid-download (a slowed transfer): exit 130, no partial left', async (t) => {
    const proxy = await throttlingProxy(t, server.port, 256 * 1024);
    const out = tempDir(t);
    const child = spawnCli(['rootfs', 'download', '--lang', 'big', '--bucket', `s3://${BUCKET}`, '--output', join(out, 'rootfs-big.ext4')], {
      env: { ...server.env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${proxy.port}` },
    });
    const result = exited(child);
    await waitFor('the download\'s temporary file', () => temporariesIn(out)[0]);
    await waitFor('bytes through the proxy', () => (proxy.bytes() > MIB ? true : undefined));
    child.kill('SIGINT');
    const r = await result;
    t.equal(r.code, 130, `exit 128 + 2 (${r.stderr.trim()})`);
    t.match(r.stderr, /Interrupted by SIGINT: the files it was writing were removed\.\n$/);
    t.same(readdirSync(out), [], 'no partial, no image, no sidecar');
  });
});

/**
 * A TCP relay to 127.0.0.1:`port` that passes at most `bytesPerTick` bytes every 50 ms
 * from the server to the client (per connection), so a transfer lasts long enough to be
 * interrupted.
 */
async function throttlingProxy(t: Test, port: number, bytesPerTick: number): Promise<{ port: number; bytes(): number }> {
  let relayed = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    let budget = bytesPerTick;
    const refill = setInterval(() => {
      budget = bytesPerTick;
      upstream.resume();
    }, 50);
    upstream.on('data', (data: Buffer) => {
      client.write(data);
      relayed += data.length;
      budget -= data.length;
      if (budget <= 0) upstream.pause();
    });
    upstream.on('close', () => {
      clearInterval(refill);
      client.end();
    });
    client.on('close', () => {
      clearInterval(refill);
      upstream.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, bytes: () => relayed };
}

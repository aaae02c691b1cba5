/**
 * src/io/temp.ts: exclusive temporary files (a planted file or symlink is never opened),
 * rename onto a planted symlink, the registry removed synchronously, and the sweep of dead
 * processes' leftovers on this host.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  TEMP_HOST,
  TemporaryFile,
  ownTemporaries,
  parseTemporaryName,
  removeOwnTemporaries,
  sweepStaleTemporaries,
  temporaryDirectory,
  writeFileReplacing,
} from '../../src/io/temp.js';
import { tempDir } from '../helpers/env.js';

type TempModule = typeof import('../../src/io/temp.js');

/** A pid that existed and no longer does: a child that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

t.test('a temporary name is .BASE.HEX.HOST.PID.tmp, unpredictable, and parses back', async (t) => {
  const dir = tempDir(t);
  const a = await TemporaryFile.create(join(dir, 'rootfs-x.ext4'));
  const b = await TemporaryFile.create(join(dir, 'rootfs-x.ext4'));
  t.teardown(() => Promise.all([a.discard(), b.discard()]));
  const name = a.path.slice(dir.length + 1);
  t.match(name, new RegExp(`^\\.rootfs-x\\.ext4\\.[0-9a-f]{16}\\.${TEMP_HOST.replace(/\./g, '\\.')}\\.${process.pid}\\.tmp$`));
  t.not(a.path, b.path, 'two names for the same target differ');
  t.same(parseTemporaryName(name), { host: TEMP_HOST, pid: process.pid });
  t.same(parseTemporaryName('.a.b.0123456789abcdef.host.example.com.42.tmp'), { host: 'host.example.com', pid: 42 }, 'dots in the base and host');
  for (const other of ['rootfs-x.ext4', '.x.ext4.0123456789abcdef.tmp', '.x.json.tmp-42', '.x.partial-42', '.x.0123456789abcdeg.h.42.tmp', '.x.0123456789abcdef.h.0.tmp']) {
    t.equal(parseTemporaryName(other), undefined, `not ours: ${other}`);
  }
  t.equal(lstatSync(a.path).mode & 0o777, 0o644 & ~process.umask());
});

t.test('a file or symlink already at the drawn name is never opened: EEXIST, and a new name is drawn', async (t) => {
  const dir = tempDir(t);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious');
  // The random source repeats itself twice, then draws another name.
  const draws = [Buffer.alloc(8, 0xaa), Buffer.alloc(8, 0xaa), Buffer.alloc(8, 0xaa), Buffer.alloc(8, 0xbb)];
  const temp = await t.mockImport<TempModule>('../../src/io/temp.js', {
    'node:crypto': { randomBytes: () => draws.shift() ?? Buffer.alloc(8, 0xcc) },
  });
  const target = join(dir, 'out.ext4');
  const planted = join(dir, `.out.ext4.${'aa'.repeat(8)}.${temp.TEMP_HOST}.${process.pid}.tmp`);
  symlinkSync(victim, planted);
  const file = await temp.TemporaryFile.create(target);
  t.equal(file.path, join(dir, `.out.ext4.${'bb'.repeat(8)}.${temp.TEMP_HOST}.${process.pid}.tmp`), 'the third name, after two collisions');
  await file.handle.writeFile('ours');
  await file.commit();
  t.equal(readFileSync(victim, 'utf8'), 'precious', 'the symlink target is untouched');
  t.equal(readlinkSync(planted), victim, 'the planted symlink is left as it was');
  t.equal(readFileSync(target, 'utf8'), 'ours');

  // A dangling symlink too (O_EXCL|O_NOFOLLOW: never created through), and giving up after 8 draws.
  const always = await t.mockImport<TempModule>('../../src/io/temp.js', { 'node:crypto': { randomBytes: () => Buffer.alloc(8, 0xdd) } });
  const dangling = join(dir, `.out.ext4.${'dd'.repeat(8)}.${always.TEMP_HOST}.${process.pid}.tmp`);
  symlinkSync(join(dir, 'would-be-created'), dangling);
  await t.rejects(always.TemporaryFile.create(target), { code: 'EEXIST' });
  t.notOk(existsSync(join(dir, 'would-be-created')), 'nothing was created through the dangling symlink');
});

t.test('commit replaces a symlink at the final path, never its target; discard and failures leave nothing', async (t) => {
  const dir = tempDir(t);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious');
  const target = join(dir, 'image.json');
  symlinkSync(victim, target);
  await writeFileReplacing(target, '{"ours":true}\n');
  t.ok(lstatSync(target).isFile(), 'the final path is a regular file');
  t.equal(readFileSync(target, 'utf8'), '{"ours":true}\n');
  t.equal(readFileSync(victim, 'utf8'), 'precious');

  const dropped = await TemporaryFile.create(join(dir, 'dropped'));
  await dropped.discard();
  t.notOk(existsSync(dropped.path));
  // rename onto a non-empty directory fails: the temporary is removed.
  mkdirSync(join(dir, 'busy', 'x'), { recursive: true });
  const failing = await TemporaryFile.create(join(dir, 'busy'));
  await t.rejects(failing.commit());
  t.notOk(existsSync(failing.path));
  t.same(readdirSync(dir).sort(), ['busy', 'image.json', 'victim']);
  t.same(ownTemporaries(), [], 'nothing left in the registry');
});

t.test('removeOwnTemporaries removes the files and directories this process holds, synchronously', async (t) => {
  const dir = tempDir(t);
  const file = await TemporaryFile.create(join(dir, 'a.ext4'));
  const scratch = await temporaryDirectory('infra-op-test-scratch-');
  writeFileSync(join(scratch.path, 'blob'), 'x');
  t.same(ownTemporaries().sort(), [file.path, scratch.path].sort());
  removeOwnTemporaries();
  t.notOk(existsSync(file.path));
  t.notOk(existsSync(scratch.path));
  t.same(ownTemporaries(), []);
  await file.close();
});

t.test('the sweep removes a dead process\'s temporary on this host, and nothing else', async (t) => {
  const dir = tempDir(t);
  const dead = await deadPid();
  const name = (pid: number, host = TEMP_HOST, base = 'rootfs-x.ext4') => `.${base}.0123456789abcdef.${host}.${pid}.tmp`;
  const files = {
    dead: name(dead),
    live: name(process.ppid),
    otherHost: name(dead, 'another-host'),
    notOurs: `.rootfs-x.ext4.${dead}.tmp`,
    legacy: `rootfs-x.json.tmp-${dead}`,
    final: 'rootfs-x.ext4',
  };
  for (const f of Object.values(files)) writeFileSync(join(dir, f), f);
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious');
  const deadSymlink = name(dead, TEMP_HOST, 'link');
  symlinkSync(victim, join(dir, deadSymlink));
  const deadDir = name(dead, TEMP_HOST, 'dir');
  mkdirSync(join(dir, deadDir));

  const removed = await sweepStaleTemporaries(dir);
  t.same(removed, [join(dir, files.dead)]);
  t.same(
    readdirSync(dir).sort(),
    [files.live, files.otherHost, files.notOurs, files.legacy, files.final, 'victim', deadSymlink, deadDir].sort(),
    'a live pid, another host, other names, a symlink and a directory are kept',
  );
  t.equal(readFileSync(victim, 'utf8'), 'precious');
  t.same(await sweepStaleTemporaries(join(dir, 'missing')), [], 'a missing directory is no error');
});

t.test('the sweep is bounded: a huge directory is cut short at maxEntries', async (t) => {
  const dir = tempDir(t);
  const dead = await deadPid();
  for (let i = 0; i < 50; i++) writeFileSync(join(dir, `.f${i}.0123456789abcdef.${TEMP_HOST}.${dead}.tmp`), '');
  const removed = await sweepStaleTemporaries(dir, 10);
  t.ok(removed.length <= 10, `at most 10 entries looked at (${removed.length} removed)`);
  t.equal(readdirSync(dir).length, 50 - removed.length);
});

/**
 * --persist and crash safety: a guest writing and syncing files in a loop is killed
 * (SIGKILL to QEMU, a power cut), the image is booted again with --persist (the kernel
 * replays the journal), and after that clean power-off e2fsck -fn finds nothing to fix.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fsck, prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, bootableImage, busyboxOnlyDir, isStaticElf, kernelFiles } from '../helpers/boot.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { READY_LINE } from '../../src/guest/protocol.js';

/** Starts `rootfs run` and resolves once the guest has been writing for a while. */
function startWriter(image: string, code: string): Promise<{ cli: ReturnType<typeof spawnCli>; console: () => string }> {
  const cli = spawnCli(['rootfs', 'run', image, '--persist', '--console', '--timeout', '600', '--code', code]);
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the guest did not start writing within 240 s:\n${text.slice(-2000)}`)), 240_000);
    cli.stderr!.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.includes(READY_LINE)) {
        clearTimeout(timer);
        // Let it write and sync for a few seconds, so the kill lands mid-write.
        setTimeout(() => resolve({ cli, console: () => text }), 6000);
      }
    });
    cli.on('close', () => reject(new Error(`rootfs run ended early:\n${text.slice(-2000)}`)));
  });
}

t.test('SIGKILL while the guest writes, then reboot: the filesystem is clean', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'pgrep', 'dumpe2fs'], files: ['/bin/busybox', ...kernelFiles()] })) return;
  if (!isStaticElf('/bin/busybox')) {
    t.fail('/bin/busybox is not static: install busybox-static');
    return;
  }
  const work = tempDir(t);
  const { image } = await bootableImage(busyboxOnlyDir(work), work, {}, 256);
  const writeLoop =
    'mkdir -p /root/data; i=0; while :; do dd if=/dev/urandom of=/root/data/f$((i % 16)) bs=16k count=$((i % 7 + 1)) 2>/dev/null; ' +
    'echo $i > /root/data/count; sync; i=$((i + 1)); done';
  const { cli } = await startWriter(image, writeLoop);
  const qemu = execFileSync('pgrep', ['-P', String(cli.pid)]).toString().trim().split('\n').map(Number);
  t.equal(qemu.length, 1, 'one QEMU child');
  process.kill(qemu[0]!, 'SIGKILL');
  const cliExit = await new Promise<number | null>((resolve) => cli.on('close', resolve));
  t.not(cliExit, 0, 'the interrupted run does not report success');
  const features = execFileSync('dumpe2fs', ['-h', image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  t.match(features, /^Filesystem features:.*needs_recovery/m, 'the kill left the journal to replay (a real crash, on the image itself)');

  const after = await runCli(['rootfs', 'run', image, '--persist', '--code', 'cat /root/data/count; ls /root/data | wc -l', '--timeout', '30', '--console'], { timeoutMs: 300_000 });
  if (after.status !== 0) t.comment(after.stderr.slice(-3000));
  t.equal(after.status, 0, 'the image boots again');
  const result = JSON.parse(after.stdout) as { stdout: string };
  const [count, files] = result.stdout.trim().split('\n').map(Number);
  t.ok(count! >= 1, `the guest had written ${count} rounds before the kill`);
  t.notMatch(execFileSync('dumpe2fs', ['-h', image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(), /needs_recovery/, 'replayed and cleanly unmounted');
  t.ok(files! >= 2 && files! <= 17, 'its files are there');
  t.match(after.stderr, /reboot: Power down/, 'clean power-off');
  const check = fsck(image);
  t.ok(check.ok, `e2fsck -fn is clean:\n${check.output}`);
});

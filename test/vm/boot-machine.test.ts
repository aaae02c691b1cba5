/**
 * Boots the Alpine fixture (built by the real `rootfs from-docker`) under QEMU through the
 * real CLI, twice: a job on a 2-vCPU, 256 MiB machine run on a terminal (`script` gives
 * it one), which shows each stage of the boot on stderr; and a run interrupted with
 * SIGINT once the kernel has printed: exit 130, QEMU gone, no temporary file left.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ALPINE_LAYOUT, CLI, prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

t.test('alpine: --mem and --vcpus reach the VM, progress on a terminal, SIGINT stops the boot', async (t) => {
  if (!prerequisites(t, { tools: [...BOOT_TOOLS, 'script', 'pgrep'], files: [CLI, ALPINE_LAYOUT, ...kernelFiles()] })) return;
  const work = tempDir(t);
  const image = join(work, 'rootfs-alpine.ext4');
  const built = await runCli(['rootfs', 'from-docker', '-n', 'alpine', '-i', `oci:${ALPINE_LAYOUT}:3.20`, '-s', '64', '-o', image, '-q'], { timeoutMs: 300_000 });
  t.equal(built.status, 0, `built (${built.stderr})`);

  // stdout to a file, stderr on script's terminal: the progress is drawn there.
  const out = join(work, 'result.json');
  const code = "nproc; awk '/^MemTotal:/ { print $2 }' /proc/meminfo";
  const command = [process.execPath, CLI, 'rootfs', 'run', image, '--code', code, '--mem', '256', '--vcpus', '2', '--timeout', '60'].map(quote).join(' ');
  const tty = spawnSync('script', ['-qefc', `${command} > ${quote(out)}`, '/dev/null'], { encoding: 'utf8', timeout: 600_000 });
  t.equal(tty.status, 0, `exit 0 (terminal: ${tty.stdout.slice(-2000)})`);
  const result = JSON.parse(readFileSync(out, 'utf8')) as { status: string; stdout: string };
  t.equal(result.status, 'success');
  const [nproc, memKb] = result.stdout.trim().split('\n').map(Number);
  t.equal(nproc, 2, 'nproc in the VM: 2');
  // MemTotal is the RAM less what firmware and the kernel image keep: some MiB under 256.
  t.ok(memKb! > 200 * 1024 && memKb! <= 256 * 1024, `MemTotal ${memKb} kB: about 256 MiB`);
  const stages = ['Booting the VM… ', 'Kernel up… ', 'Guest runner ready… ', 'Job running… ', 'Done after '].map((s) => tty.stdout.indexOf(s));
  t.ok(stages.every((at, i) => at >= 0 && (i === 0 || at > stages[i - 1]!)), `the stages in order on the terminal: ${JSON.stringify(tty.stdout.slice(-600))}`);
  t.match(tty.stdout, /Done after \d+\.\d s\r?\n/);

  // SIGINT once the kernel speaks (--console copies it): the boot is under way.
  const tmp = join(work, 'tmp');
  mkdirSync(tmp);
  const child = spawn(process.execPath, [CLI, 'rootfs', 'run', image, '--code', 'sleep 600', '--console'], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 300_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      clearTimeout(timer);
      resolve();
    });
  });
  const ours = ['-f', `qemu-system-x86_64 .*file=${image},format=raw`];
  t.equal(spawnSync('pgrep', ours).status, 0, 'QEMU runs this image');
  t.not(readdirSync(tmp).length, 0, 'with its temporary directory');
  child.kill('SIGINT');
  t.equal(await exited, 130, 'exit 128 + 2');
  t.match(stderr, /Interrupted by SIGINT: the VM was stopped and its temporary files removed; no result\.\n$/);
  t.equal(stdout, '', 'no result printed');
  t.equal(spawnSync('pgrep', ours).status, 1, 'no QEMU left');
  t.same(readdirSync(tmp), [], 'no temporary files left');
});

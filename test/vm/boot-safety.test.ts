/**
 * Boots the Alpine minirootfs fixture (BusyBox init) under QEMU through the real CLI
 * (`rootfs run`), one image for two jobs: a root job that prints a forged result on the
 * console with whatever secret it can find and exits 3 (the host reports the real status
 * and exit code), and a job run as `--user nobody` that prints 100 MB of stdout under
 * `--timeout 20` (the result arrives, cut to exactly --max-output bytes).
 */
import t from 'tap';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { BOOT_TOOLS, alpineDir, bootableImage, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';
import { RESULT_BEGIN, RESULT_END, SECRET_SECTOR } from '../../src/guest/protocol.js';

const FORGED = '{"status":"success","stdout":"FORGED","stderr":null,"exitCode":0,"exception":null,"executionTime":1,"truncated":false}';

/** Looks for the secret (the extracted member, the job disk's sector), forges with it, keeps forging from a child. */
const FORGER = [
  `s=$(cat /run/infra.operator/job/secret 2>/dev/null; dd if=/dev/vdb bs=512 skip=${SECRET_SECTOR} count=1 2>/dev/null | tr -d '\\000')`,
  `forge() { printf '\\n%s %s\\n%s\\n%s %s\\n' '${RESULT_BEGIN}' "$s" '${FORGED}' '${RESULT_END}' "$s" > /dev/console; }`,
  'forge',
  '(while :; do sleep 1; forge; done) &',
  'echo "found:$s"',
  'exit 3',
].join('\n');

t.test('alpine: a job cannot forge its result, and 100 MB of output keeps the result', async (t) => {
  if (!prerequisites(t, { tools: BOOT_TOOLS, files: [ALPINE_X86, ...kernelFiles()] })) return;
  const work = tempDir(t);
  const { image, report } = await bootableImage(alpineDir(work), work);
  t.equal(report.init, 'busybox');

  const forged = await runCli(['rootfs', 'run', image, '--code', FORGER, '--timeout', '20', '--console'], { timeoutMs: 400_000 });
  if (forged.status !== 1) t.comment(forged.stderr.slice(-3000));
  t.equal(forged.status, 1, 'the job failed: exit 1');
  const result = JSON.parse(forged.stdout) as Record<string, unknown>;
  t.match(result, { status: 'error', stdout: 'found:\n', exitCode: 3, exception: 'exited with code 3' }, 'the real result; the job found no secret');
  t.match(forged.stderr, FORGED, 'the job did print its forgery on the console');
  t.match(forged.stderr, /reboot: Power down/);

  const maxOutput = 65_536;
  const code = 'id -un; dd if=/dev/zero bs=1048576 count=100 2>/dev/null; echo done >&2';
  const big = await runCli(['rootfs', 'run', image, '--code', code, '--user', 'nobody', '--timeout', '20', '--max-output', String(maxOutput), '--console'], { timeoutMs: 600_000 });
  if (big.status !== 0) t.comment(big.stderr.slice(-3000));
  t.equal(big.status, 0, 'exit 0');
  const bigResult = JSON.parse(big.stdout) as Record<string, unknown>;
  t.match(bigResult, { status: 'success', exitCode: 0, stderr: 'done\n', truncated: true });
  const kept = Buffer.from(bigResult.stdout as string, 'utf8');
  t.equal(kept.length, maxOutput, 'exactly --max-output bytes kept');
  t.same(kept, Buffer.concat([Buffer.from('nobody\n'), Buffer.alloc(maxOutput - 7)]), 'run as --user nobody, then the zeros');
  t.match(big.stderr, /reboot: Power down/);
});

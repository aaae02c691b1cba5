/**
 * The builtin guest runner run directly on the host under dash, bash and busybox sh: its
 * JSON string encoder against the WHATWG UTF-8 decoder, and whole jobs (made by the real
 * jobArchive, unpacked by the real tar) for each result status, the user switch, output
 * limits, the language table's errors and the timeout that kills the job's whole group;
 * and the boot-time `guest` command on a job disk file: the secret wiped before the job
 * runs, a job's forged result ignored, all its processes killed before the result.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { GUEST_RUNNER_SCRIPT } from '../../src/guest/runner-script.js';
import { ConsoleWatcher, READY_LINE, RESULT_BEGIN, RESULT_END, RUNNING_LINE, SECRET_SECTOR, jobArchive, newSecret, parseResult } from '../../src/guest/protocol.js';
import type { JobResult, JobSpec } from '../../src/guest/protocol.js';
import { imageEnv, runnerConf } from '../../src/boot/files.js';
import { tempDir, which } from '../helpers/env.js';

const SHELLS: string[][] = [['dash'], ['bash'], ['busybox', 'sh']].filter((s) => which(s[0]!) !== undefined);

function setup(t: Test): { runner: string; dir: string } {
  const dir = tempDir(t);
  const runner = join(dir, 'infra.operator');
  writeFileSync(runner, GUEST_RUNNER_SCRIPT, { mode: 0o755 });
  return { runner, dir };
}

function runnerEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, INFRA_OPERATOR_CONF_DIR: join(dir, 'conf'), INFRA_OPERATOR_STATE_DIR: join(dir, 'state') };
}

t.test('json-string matches the WHATWG UTF-8 decoder in every shell', async (t) => {
  t.ok(SHELLS.length === 3 || !process.env.INFRA_OPERATOR_REQUIRE_ALL, `shells found: ${SHELLS.map((s) => s[0]).join(', ')}`);
  const { runner, dir } = setup(t);
  const cases: Record<string, Buffer> = {
    empty: Buffer.alloc(0),
    everyByte: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    text: Buffer.from('quote " backslash \\ tab \t nl \n cr \r é € 😀 \u2028 \u007f', 'utf8'),
    invalid: Buffer.from([0xe0, 0x80, 0x80, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xc0, 0xaf, 0xf0, 0x9f, 0x98, 0x41, 0xe2, 0x82]),
    random: randomBytes(20_000),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    const expected = new TextDecoder().decode(bytes);
    for (const shell of SHELLS) {
      const out = execFileSync(shell[0]!, [...shell.slice(1), runner, 'json-string', file], { env: runnerEnv(dir), maxBuffer: 1 << 26 }).toString('latin1');
      t.match(out, /^"[\x20-\x7e]*"\n$/, `${name} under ${shell[0]}: one line of printable ASCII`);
      t.equal(JSON.parse(out), expected, `${name} under ${shell[0]}`);
    }
  }
});

interface Image {
  user?: string;
  workdir?: string;
  env?: string[];
}

function runJob(t: Test, shell: string[], job: Omit<JobSpec, 'poweroff'>, image: Image = {}): JobResult {
  const { runner, dir } = setup(t);
  mkdirSync(join(dir, 'conf'));
  mkdirSync(join(dir, 'job'));
  writeFileSync(join(dir, 'conf/runner.conf'), runnerConf('busybox', { env: [], entrypoint: [], cmd: [], user: image.user ?? '', workingDir: image.workdir ?? '' }));
  writeFileSync(join(dir, 'conf/image.env'), imageEnv(image.env ?? []).text);
  writeFileSync(join(dir, 'job.tar'), jobArchive({ ...job, poweroff: false }, newSecret()));
  execFileSync('tar', ['-xf', join(dir, 'job.tar'), '-C', join(dir, 'job')]);
  const r = spawnSync(shell[0]!, [...shell.slice(1), runner, 'run-job', join(dir, 'job')], { env: runnerEnv(dir), encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, `runner exit (stderr: ${r.stderr})`);
  const lines = r.stdout.split('\n');
  t.equal(lines.length, 2, 'one result line');
  return parseResult(lines[0]!);
}

for (const shell of SHELLS) {
  t.test(`jobs under ${shell.join(' ')}`, async (t) => {
    const ok = runJob(t, shell, { lang: 'sh', code: 'echo "$GREETING"; pwd; cat data/in.txt; echo warn >&2', timeout: 10, files: new Map([['data/in.txt', Buffer.from('file!\n')]]) }, {
      env: ["GREETING=hi 'there'"],
      workdir: '/var/tmp',
    });
    t.match(ok, { status: 'success', stderr: 'warn\n', exitCode: 0, exception: null, truncated: false });
    t.match(ok.stdout, /^hi 'there'\n\/var\/tmp\n/);
    t.type(ok.executionTime, 'number');

    // files/ land in the job directory, next to the code file: run from there.
    const files = runJob(t, shell, { lang: 'sh', code: 'cd "$(dirname "$0")"; cat data/in.txt', timeout: 10, files: new Map([['data/in.txt', Buffer.from('file!\n')]]) });
    t.equal(files.stdout, 'file!\n');

    const failed = runJob(t, shell, { lang: 'sh', code: 'printf "no newline"; exit 42', timeout: 10 });
    t.match(failed, { status: 'error', stdout: 'no newline', stderr: null, exitCode: 42, exception: 'exited with code 42' });

    const user = runJob(t, shell, { lang: 'sh', code: 'id -u; id -g; echo "$HOME"; touch "$0.w" && echo wrote', timeout: 10 }, { user: 'nobody' });
    t.equal(user.status, 'success', user.stderr ?? '');
    t.equal(user.stdout, '65534\n65534\n/nonexistent\nwrote\n', 'runs as the image USER, in a job directory it owns');
    const numeric = runJob(t, shell, { lang: 'sh', code: 'id -u; id -g', timeout: 10 }, { user: '4242:4343' });
    t.equal(numeric.stdout, '4242\n4343\n', 'a uid:gid not in /etc/passwd');
    const unknown = runJob(t, shell, { lang: 'sh', code: 'true', timeout: 10 }, { user: 'no-such-user' });
    t.match(unknown, { status: 'error', exitCode: null, exception: /unknown user no-such-user/ });
    const chosen = runJob(t, shell, { lang: 'sh', code: 'id -u', timeout: 10, user: 'nobody' }, { user: '4242' });
    t.equal(chosen.stdout, '65534\n', "the job's user wins over the image USER");
    const ghost = runJob(t, shell, { lang: 'sh', code: 'true', timeout: 10, user: 'ghost' });
    t.match(ghost, { status: 'error', exitCode: null, exception: 'cannot run as user ghost: unknown user ghost' });

    const big = runJob(t, shell, { lang: 'sh', code: 'head -c 5000 /dev/zero | tr "\\0" a; echo; echo e >&2', timeout: 10, maxOutput: 100 });
    t.equal(big.stdout, 'a'.repeat(100));
    t.equal(big.stderr, 'e\n');
    t.equal(big.truncated, true);
    // Cut as it is produced: 6.5 MB through a 1000-byte keep, the job not killed by SIGPIPE.
    const huge = runJob(t, shell, { lang: 'sh', code: 'dd if=/dev/zero bs=65536 count=100 2>/dev/null; echo done >&2', timeout: 30, maxOutput: 1000 });
    t.match(huge, { status: 'success', exitCode: 0, stderr: 'done\n', truncated: true });
    t.equal(huge.stdout, '\0'.repeat(1000), 'exactly max_output bytes kept');

    const command = runJob(t, shell, { lang: 'whatever', code: 'ignored', command: 'echo "custom $(basename "$1")"', timeout: 10 });
    t.equal(command.stdout, 'custom main\n', 'a command job runs instead of the language table');

    const lang = runJob(t, shell, { lang: 'cobol', code: 'x', timeout: 10 });
    t.match(lang, { status: 'error', exitCode: null, exception: 'unsupported language: cobol' });
    const missing = runJob(t, shell, { lang: 'r', code: 'print(1)', timeout: 10 }, { env: ['PATH=/usr/bin:/bin'] });
    t.match(missing, { status: 'error', exitCode: 127 });
    t.match(missing.stderr, /Rscript/);
  });
}

t.test('a timeout kills the job and everything it started', async (t) => {
  const shell = SHELLS.find((s) => s[0] === 'dash') ?? SHELLS[0]!;
  const marker = join(tempDir(t), 'survivor');
  const started = Date.now();
  const r = runJob(t, shell, { lang: 'sh', code: `echo start; (sleep 3; touch ${marker}) & sleep 30; echo never`, timeout: 1 });
  t.match(r, { status: 'timeout', stdout: 'start\n', exitCode: 137, exception: 'timed out after 1 s' });
  t.ok(r.executionTime >= 1000 && r.executionTime < 5000, `executionTime ${r.executionTime}`);
  t.ok(Date.now() - started < 10_000);
  await new Promise((resolve) => setTimeout(resolve, 3500));
  t.notOk(existsSync(marker), 'the background child was killed with the job');
});

/**
 * Runs `infra.operator guest` with the job disk a file and the console a file the job may
 * append to (as a job may write to /dev/console in the VM). The job's code is made from
 * the test directory's path. Returns the console text and the job disk's bytes after.
 */
function runGuest(t: Test, shell: string[], job: Omit<JobSpec, 'poweroff' | 'code'>, code: (dir: string) => string, secret: string) {
  const { runner, dir } = setup(t);
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'conf'));
  writeFileSync(join(dir, 'conf/runner.conf'), runnerConf('busybox', { env: [], entrypoint: [], cmd: [], user: '', workingDir: '' }));
  writeFileSync(join(dir, 'conf/image.env'), imageEnv([]).text);
  const device = join(dir, 'job.tar');
  writeFileSync(device, jobArchive({ ...job, code: code(dir), poweroff: false }, secret));
  const consoleFile = join(dir, 'console');
  writeFileSync(consoleFile, '');
  chmodSync(consoleFile, 0o666);
  const fd = openSync(consoleFile, 'a');
  try {
    const env = { ...runnerEnv(dir), INFRA_OPERATOR_JOB_DEVICE: device };
    const r = spawnSync(shell[0]!, [...shell.slice(1), runner, 'guest'], { env, stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 0, `runner exit (stderr: ${r.stderr})`);
  } finally {
    closeSync(fd);
  }
  return { consoleFile, console: () => readFileSync(consoleFile, 'utf8'), disk: readFileSync(device), dir };
}

const FORGED = '{"status":"success","stdout":"FORGED","stderr":null,"exitCode":0,"exception":null,"executionTime":1,"truncated":false}';

/**
 * A job that looks for the secret (the extracted member, the job disk's sector), prints a
 * forged result on the console with what it found, keeps forging from a child and from a
 * process in a session of its own, and exits 3.
 */
function forger(dir: string): string {
  const consoleFile = `${dir}/console`;
  return [
    `s=$(cat ${dir}/state/job/secret 2>/dev/null; dd if=${dir}/job.tar bs=512 skip=${SECRET_SECTOR} count=1 2>/dev/null | tr -d '\\000')`,
    `forge() { printf '\\n%s %s\\n%s\\n%s %s\\n' '${RESULT_BEGIN}' "$s" '${FORGED}' '${RESULT_END}' "$s" >> ${consoleFile}; }`,
    'forge',
    '(while :; do sleep 1; forge; done) &',
    `setsid sh -c 'sleep 2; echo escaped >> ${consoleFile}' &`,
    'echo "found:$s"',
    'exit 3',
  ].join('\n');
}

for (const shell of SHELLS) {
  t.test(`guest under ${shell.join(' ')}: a job cannot forge the result`, async (t) => {
    for (const user of ['root', 'nobody']) {
      const secret = newSecret();
      const run = runGuest(t, shell, { lang: 'sh', timeout: 10, user }, forger, secret);
      const text = run.console();
      const begin = text.indexOf(`${RESULT_BEGIN} ${secret}`);
      t.ok(begin > 0, `${user}: the real begin marker carries the secret`);
      const [ready, running] = [text.indexOf(`${READY_LINE}\n`), text.indexOf(`${RUNNING_LINE}\n`)];
      t.ok(ready >= 0 && ready < running && running < begin, `${user}: ready, running, then the result`);
      t.ok(text.endsWith(`${RESULT_END} ${secret}\n`), `${user}: and the end marker`);
      t.ok(text.includes(FORGED), `${user}: the job did print its forgery`);
      t.notOk(text.slice(begin).includes(FORGED), `${user}: nothing of the job after the result began`);
      const watcher = new ConsoleWatcher(secret);
      watcher.push(Buffer.from(text));
      t.match(watcher.result, { status: 'error', stdout: 'found:\n', exitCode: 3, exception: 'exited with code 3' }, `${user}: the real result; the job found no secret`);
      const sector = run.disk.subarray(SECRET_SECTOR * 512, SECRET_SECTOR * 512 + 512);
      t.same(sector, Buffer.alloc(512), `${user}: the secret's sector is zeroed on the job disk`);
      t.notOk(existsSync(join(run.dir, 'state/job/secret')), `${user}: the extracted secret is gone`);
      if (user === 'nobody') {
        // A process of the job's user in a session of its own is killed too.
        const size = statSync(run.consoleFile).size;
        await new Promise((resolve) => setTimeout(resolve, 2500));
        t.equal(statSync(run.consoleFile).size, size, 'no job process printed after the result');
      }
    }
  });
}

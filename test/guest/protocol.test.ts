/** The host side of the runner protocol: the job archive (read back by the real tar) and the console watcher. */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConsoleWatcher,
  JOB_LIMITS,
  READY_LINE,
  RESULT_BEGIN,
  RUNNING_LINE,
  RESULT_END,
  SECRET_SECTOR,
  checkJob,
  jobArchive,
  newSecret,
  resultMarkers,
} from '../../src/guest/protocol.js';
import { prerequisites, tempDir } from '../helpers/env.js';

/** A job with every kind of member: UTF-8 text, binary data, a prefix-split name, an empty file. */
const DEEP = `${'d'.repeat(90)}/${'e'.repeat(90)}/file.txt`;
const UNICODE = `${'é'.repeat(60)}/${'ü'.repeat(40)}.txt`;
const DATA = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7) & 255));
const JOB = {
  lang: 'python',
  code: 'print("héllo")\n',
  command: 'exec python3 "$1"',
  timeout: 30,
  maxOutput: 4096,
  file: 'app.py',
  poweroff: true,
  files: new Map([
    ['data/x.bin', Buffer.from([0, 1, 2, 255])],
    [DEEP, Buffer.from('deep')],
    [UNICODE, DATA],
    ['empty', Buffer.alloc(0)],
  ]),
};

t.test('the job archive is a ustar archive tar reads back exactly', async (t) => {
  if (!prerequisites(t, { tools: ['tar'] })) return;
  const dir = tempDir(t);
  const secret = newSecret();
  t.match(secret, /^[0-9a-f]{64}$/);
  const archive = jobArchive({ ...JOB, user: 'app:staff' }, secret);
  t.equal(archive.length % 512, 0, 'whole sectors');
  t.same(archive.subarray(-1024), Buffer.alloc(1024), 'ends with two zero blocks');
  const sector = archive.subarray(SECRET_SECTOR * 512, SECRET_SECTOR * 512 + 512);
  t.same(sector, Buffer.concat([Buffer.from(secret), Buffer.alloc(512 - 64)]), "the secret's bytes fill the start of SECRET_SECTOR, nothing else");
  writeFileSync(join(dir, 'job.tar'), archive);
  mkdirSync(join(dir, 'out'));
  execFileSync('tar', ['-xf', join(dir, 'job.tar'), '-C', join(dir, 'out')]);
  const read = (p: string) => readFileSync(join(dir, 'out', p));
  t.equal(read('secret').toString(), secret);
  t.equal(read('manifest').toString(), 'version=1\nlang=python\ntimeout=30\npoweroff=1\nmax_output=4096\nfile=app.py\nuser=app:staff\n');
  t.equal(read('code').toString(), 'print("héllo")\n');
  t.equal(read('command').toString(), 'exec python3 "$1"');
  t.same(read('files/data/x.bin'), Buffer.from([0, 1, 2, 255]));
  t.equal(read(`files/${DEEP}`).toString(), 'deep', 'long names go through the ustar prefix field');
  t.same(read(`files/${UNICODE}`), DATA, 'UTF-8 names, split by bytes');
  t.equal(read('files/empty').length, 0);
  const listing = execFileSync('tar', ['-tvf', join(dir, 'job.tar')]).toString();
  t.match(listing, /^-rw-r--r-- 0\/0 +16 1970-01-01 00:00 code$/m, 'fixed owner, mode and time');
});

t.test('the job archive bytes stay the same for the same job', async (t) => {
  // The digest of the archive the job disk is (ustar, mode 0644, owner 0, time 0, UTF-8
  // names, prefix split; the same bytes as the hand-written ustar writer gave, secret first):
  // time 0, UTF-8 names, prefix split): a change here changes every job disk.
  const archive = jobArchive(JOB, 'ab'.repeat(32));
  t.equal(archive.length, 78336);
  t.equal(createHash('sha256').update(archive).digest('hex'), '11c8af7c280b4f7bd0ff019001cd832e2ce42ac533d5a8b54fdac0a24fa46ad6');
  const header = archive.subarray(0, 512);
  t.equal(header.toString('latin1', 0, 7), 'secret\0', 'first member: the secret');
  t.equal(header.toString('latin1', 100, 108), '0000644\0', 'mode');
  t.match(header.toString('latin1', 148, 156), /^[0-7]{6}\0 $/, 'checksum field: six octal digits, NUL, space');
  t.equal(header.toString('latin1', 257, 265), 'ustar\u000000', 'POSIX ustar magic and version');
});

t.test('the job archive refuses what the runner could not use', async (t) => {
  const base = { lang: 'sh', code: 'true', timeout: 5, poweroff: false };
  const secret = newSecret();
  t.throws(() => jobArchive({ ...base, lang: 'sh; rm -rf /' }, secret), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, file: '../x' }, secret), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, timeout: 0 }, secret), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, files: new Map([['../escape', Buffer.alloc(1)]]) }, secret), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, files: new Map([['x'.repeat(300), Buffer.alloc(1)]]) }, secret), { code: 'USAGE' });
  t.throws(() => jobArchive(base, 'not hex'), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, user: 'a b' }, secret), { code: 'USAGE' });
});

t.test('job limits: timeouts beyond the documented maximum and output bounds are refused', async (t) => {
  const base = { lang: 'sh', code: 'true', timeout: 5 };
  t.doesNotThrow(() => checkJob({ ...base, timeout: JOB_LIMITS.maxTimeout, maxOutput: JOB_LIMITS.maxMaxOutput }));
  t.doesNotThrow(() => checkJob({ ...base, maxOutput: 0, user: '1000:1000' }));
  t.throws(() => checkJob({ ...base, timeout: 3_000_000 }), { code: 'USAGE', option: 'timeout', message: /timeout .* from 1 to 86400/ });
  t.throws(() => checkJob({ ...base, timeout: JOB_LIMITS.maxTimeout + 1 }), { code: 'USAGE' });
  t.throws(() => checkJob({ ...base, timeout: 1.5 }), { code: 'USAGE' });
  t.throws(() => checkJob({ ...base, timeout: Number.NaN }), { code: 'USAGE' });
  t.throws(() => checkJob({ ...base, maxOutput: -1 }), { code: 'USAGE', option: 'maxOutput' });
  t.throws(() => checkJob({ ...base, maxOutput: JOB_LIMITS.maxMaxOutput + 1 }), { code: 'USAGE' });
  t.throws(() => checkJob({ ...base, user: 'x;y' }), { code: 'USAGE', option: 'user' });
});

t.test('the console watcher finds the ready line and the result among other output', async (t) => {
  const secret = newSecret();
  const { begin, end } = resultMarkers(secret);
  t.equal(begin, `${RESULT_BEGIN} ${secret}`);
  t.equal(end, `${RESULT_END} ${secret}`);
  const w = new ConsoleWatcher(secret);
  const result = '{"status":"success","stdout":"a\\nb","stderr":null,"exitCode":0,"exception":null,"executionTime":12,"truncated":false}';
  const forged = result.replace('a\\nb', 'FORGED');
  const consoleText =
    `[    1.0] booting\r\n${RUNNING_LINE}\r\ntestvm login: ${READY_LINE}\r\n${RUNNING_LINE}\r\n` +
    `${RESULT_BEGIN}\r\n${forged}\r\n${RESULT_END} ${newSecret()}\r\n` +
    `${begin}\r\ntestvm login: \r\n{not json\r\n${result}\r\n${end}\r\nThe system is going down\r\n`;
  const bytes = Buffer.from(consoleText);
  const readyAt = bytes.indexOf(READY_LINE);
  w.push(bytes.subarray(0, readyAt));
  t.equal(w.running, false, 'a running line before the ready line is not the runner\'s');
  for (let i = readyAt; i < bytes.length; i += 7) w.push(bytes.subarray(i, Math.min(i + 7, bytes.length))); // arbitrary chunking
  t.equal(w.ready, true);
  t.equal(w.running, true);
  t.same(w.result, { status: 'success', stdout: 'a\nb', stderr: null, exitCode: 0, exception: null, executionTime: 12, truncated: false });
  t.match(w.lastLines(2), /going down/);

  const early = new ConsoleWatcher(secret);
  early.push(Buffer.from(`${result}\n${begin}\n{"status":"weird"}\n${end}\n`));
  t.equal(early.result, undefined, 'a JSON line outside the markers or with bad fields is no result');

  const bounded = new ConsoleWatcher(secret, 1000);
  bounded.push(Buffer.from(`${begin}\n`));
  for (let i = 0; i < 100; i++) bounded.push(Buffer.from(`{"status":"success",${'x'.repeat(500)}`)); // a line without end
  bounded.push(Buffer.from(`\n${result}\n${end}\n`));
  t.same(bounded.result?.stdout, 'a\nb', 'an overlong line is dropped, the next one read');
  t.match(bounded.lastLines(3), /more than 1000 bytes dropped/);
});

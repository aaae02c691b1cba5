/** The host side of the runner protocol: the job archive (read back by the real tar) and the console watcher. */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConsoleWatcher, READY_LINE, RESULT_BEGIN, RESULT_END, jobArchive } from '../../src/guest/protocol.js';
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
  const archive = jobArchive(JOB);
  t.equal(archive.length % 512, 0, 'whole sectors');
  t.same(archive.subarray(-1024), Buffer.alloc(1024), 'ends with two zero blocks');
  writeFileSync(join(dir, 'job.tar'), archive);
  mkdirSync(join(dir, 'out'));
  execFileSync('tar', ['-xf', join(dir, 'job.tar'), '-C', join(dir, 'out')]);
  const read = (p: string) => readFileSync(join(dir, 'out', p));
  t.equal(read('manifest').toString(), 'version=1\nlang=python\ntimeout=30\npoweroff=1\nmax_output=4096\nfile=app.py\n');
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
  // The digest of the archive the job disk has always been (ustar, mode 0644, owner 0,
  // time 0, UTF-8 names, prefix split): a change here changes every job disk.
  const archive = jobArchive(JOB);
  t.equal(archive.length, 77312);
  t.equal(createHash('sha256').update(archive).digest('hex'), 'd6a7aa316f469510a52398a5c2c8dc6be3448694ee3206ad4239527ee737fb34');
  const header = archive.subarray(0, 512);
  t.equal(header.toString('latin1', 0, 9), 'manifest\0', 'first member: the manifest');
  t.equal(header.toString('latin1', 100, 108), '0000644\0', 'mode');
  t.match(header.toString('latin1', 148, 156), /^[0-7]{6}\0 $/, 'checksum field: six octal digits, NUL, space');
  t.equal(header.toString('latin1', 257, 265), 'ustar\u000000', 'POSIX ustar magic and version');
});

t.test('the job archive refuses what the runner could not use', async (t) => {
  const base = { lang: 'sh', code: 'true', timeout: 5, poweroff: false };
  t.throws(() => jobArchive({ ...base, lang: 'sh; rm -rf /' }), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, file: '../x' }), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, timeout: 0 }), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, files: new Map([['../escape', Buffer.alloc(1)]]) }), { code: 'USAGE' });
  t.throws(() => jobArchive({ ...base, files: new Map([['x'.repeat(300), Buffer.alloc(1)]]) }), { code: 'USAGE' });
});

t.test('the console watcher finds the ready line and the result among other output', async (t) => {
  const w = new ConsoleWatcher();
  const result = '{"status":"success","stdout":"a\\nb","stderr":null,"exitCode":0,"exception":null,"executionTime":12,"truncated":false}';
  const consoleText =
    `[    1.0] booting\r\ntestvm login: ${READY_LINE}\r\n` +
    `${RESULT_BEGIN}\r\ntestvm login: \r\n{not json\r\n${result}\r\n${RESULT_END}\r\nThe system is going down\r\n`;
  const bytes = Buffer.from(consoleText);
  for (let i = 0; i < bytes.length; i += 7) w.push(bytes.subarray(i, i + 7)); // arbitrary chunking
  t.equal(w.ready, true);
  t.same(w.result, { status: 'success', stdout: 'a\nb', stderr: null, exitCode: 0, exception: null, executionTime: 12, truncated: false });
  t.match(w.lastLines(2), /going down/);

  const early = new ConsoleWatcher();
  early.push(Buffer.from(`${result}\n${RESULT_BEGIN}\n{"status":"weird"}\n${RESULT_END}\n`));
  t.equal(early.result, undefined, 'a JSON line outside the markers or with bad fields is no result');
});

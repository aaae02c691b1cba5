/** The small shared pieces of src/io: streaming sha256, zero detection, errno mapping. */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { digestFile, digesting } from '../../src/io/digest.js';
import { fsError } from '../../src/io/fs-errors.js';
import { isZero } from '../../src/io/zero.js';
import { prerequisites, tempDir } from '../helpers/env.js';

const MIB = 1024 * 1024;
const sha256sum = (args: string[], input?: Buffer) =>
  execFileSync('sh', ['-c', `${args.join(' ')} | sha256sum`], input ? { input } : {}).toString().split(' ')[0];

t.test('digestFile: a sparse file hashes as its zeros, a range as its bytes (against sha256sum)', async (t) => {
  if (!prerequisites(t, { tools: ['sha256sum', 'dd'] })) return;
  const file = join(tempDir(t), 'sparse');
  const fd = openSync(file, 'w');
  writeSync(fd, Buffer.from('head'), 0, 4, 0);
  writeSync(fd, Buffer.from('tail'), 0, 4, 9 * MIB - 4); // a hole of ~9 MiB between: more than one read chunk
  closeSync(fd);
  t.ok(statSync(file).blocks * 512 < MIB, 'the file is sparse');
  t.equal(await (await digestFile(file)).hex(), sha256sum(['cat', file]));
  const range = await digestFile(file, { offset: 2, size: 5 * MIB });
  t.equal(range.bytes, 5 * MIB);
  t.equal(await range.digest(), `sha256:${sha256sum(['dd', `if=${file}`, 'bs=1M', 'iflag=skip_bytes,count_bytes', 'skip=2', `count=${5 * MIB}`, 'status=none'])}`);
  await t.rejects(digestFile(file, { offset: 9 * MIB - 2, size: 3 }, 'INPUT'), { code: 'INPUT', message: /ended after 2 of 3 bytes/ });
  await t.rejects(digestFile(join(file, 'nope')), { code: 'DISK', message: /^Cannot read .*nope/ });
});

t.test('digesting: passes chunks through and reports digest and size at the end', async (t) => {
  const parts = [Buffer.from('hello '), Buffer.from('world')];
  let seen: [string, number] | undefined;
  const out: Buffer[] = [];
  for await (const chunk of digesting((async function* () { yield* parts; })(), (digest, size) => (seen = [digest, size]))) out.push(chunk);
  t.same(Buffer.concat(out), Buffer.from('hello world'));
  t.same(seen, [`sha256:${sha256sum(['printf', "'hello world'"])}`, 11]);
});

t.test('isZero: any non-zero byte, at any offset, in any length', async (t) => {
  const data = Buffer.alloc(200 * 1024);
  t.ok(isZero(data));
  t.ok(isZero(data, 4096, 4096));
  t.ok(isZero(data, 10, 0), 'an empty range is all zeros');
  for (const at of [0, 3, 4, 4095, 65_535, 65_536, 131_073, data.length - 1]) {
    data[at] = 1;
    t.notOk(isZero(data), `a byte at ${at}`);
    t.equal(isZero(data, at + 1), true, `after ${at}`);
    data[at] = 0;
  }
  data[8191] = 7;
  t.notOk(isZero(data, 4096, 4096));
  t.ok(isZero(data, 0, 4096));
  t.ok(isZero(data, 8192, 4096));
});

t.test('fsError: NOT_FOUND with its advice, the advice per problem, DISK or INPUT', async (t) => {
  const dir = tempDir(t);
  const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' });
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const advice = { missing: 'No image at x.', full: 'free space there', other: 'pass {output} elsewhere' };
  t.match(fsError(missing, { path: 'x', action: 'read', advice }), { code: 'NOT_FOUND', path: 'x', message: 'No image at x: pass the output option elsewhere' });
  t.match(fsError(full, { path: dir, action: 'write', advice }), { code: 'DISK', hint: 'free space there', message: `Cannot write ${dir}: ENOSPC: no space left on device, write: free space there` });
  t.match(fsError(missing, { path: 'x', action: 'read', code: 'INPUT' }), { code: 'INPUT', message: "Cannot read x: ENOENT: no such file or directory, open 'x'" });
  const denied = Object.assign(new Error("EACCES: permission denied, open 'd/f'"), { code: 'EACCES' });
  const deniedError = fsError(denied, { path: dir, what: 'images directory', action: 'create', option: 'output', advice });
  t.match(deniedError, { code: 'DISK', option: 'output', message: `Cannot create images directory ${dir}: EACCES: permission denied, open 'd/f': pass the output option elsewhere` });
  t.equal(deniedError.render((o) => `--${o}`), `Cannot create images directory ${dir}: EACCES: permission denied, open 'd/f': pass --output elsewhere`, 'the CLI words the option as a flag');
  t.match(fsError(missing, { path: 'x', action: 'create', advice: { other: 'pass {output} elsewhere' } }), { code: 'DISK', message: /^Cannot create x: ENOENT.*: pass the output option elsewhere$/ }, 'missing without its own advice is a DISK error');
});

/**
 * The hashing thread: many streams interleaved through its shared ring (pieces larger
 * than the ring, empty ones, zero runs that carry no bytes, buffers reused as soon as an
 * update returns) give node:crypto's sha256 of each stream, and the process still exits
 * on its own afterwards (the worker holds it only while an answer is awaited).
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from '../helpers/env.js';
import { ThreadSha256 } from '../../src/io/hash-thread.js';

const MIB = 1024 * 1024;

t.test('interleaved streams hash as node:crypto does', async (t) => {
  const sizes = [0, 1, 4095, MIB - 1, MIB, MIB + 1, 3 * MIB + 17, 9 * MIB];
  const streams = sizes.map((size, i) => ({ data: randomBytes(size), zerosAt: i % 3 === 0 ? Math.floor(size / 2) : -1, zeros: 70_000 * i, thread: new ThreadSha256(), at: 0 }));
  const reused = Buffer.alloc(512 * 1024);
  // Round-robin pieces of varying sizes, each copied into one reused buffer.
  for (let turn = 0; streams.some((s) => s.at < s.data.length); turn++) {
    await Promise.all(
      streams.map(async (s, i) => {
        if (s.at >= s.data.length) return;
        const n = Math.min(s.data.length - s.at, 1 + ((turn * 7919 + i * 104_729) % reused.length));
        if (s.zerosAt >= s.at && s.zerosAt < s.at + n) s.thread.updateZeros(0);
        const piece = Buffer.from(s.data.subarray(s.at, s.at + n));
        s.at += n;
        await s.thread.update(piece);
        piece.fill(0xdb);
      }),
    );
  }
  for (const s of streams) s.thread.updateZeros(s.zeros);
  const digests = await Promise.all(streams.map((s) => s.thread.digest()));
  streams.forEach((s, i) => {
    const expected = createHash('sha256').update(s.data).update(Buffer.alloc(s.zeros)).digest('hex');
    t.equal(digests[i]!.toString('hex'), expected, `${s.data.length} bytes and ${s.zeros} zeros`);
  });
});

t.test('a process that hashed exits by itself, with or without a digest awaited', async (t) => {
  const module = JSON.stringify(join(REPO, 'dist/io/hash-thread.js'));
  const scripts = {
    digested: `import { ThreadSha256 } from ${module};
const h = new ThreadSha256(); await h.update(Buffer.from('abc')); console.log((await h.digest()).toString('hex'));
new ThreadSha256().update(Buffer.from('never digested'));`,
    // As when a damaged input stops a build before any digest is asked for.
    abandoned: `import { ThreadSha256 } from ${module};
await new ThreadSha256().update(Buffer.alloc(3 * 1024 * 1024, 1)); console.log('abandoned');`,
  };
  for (const [name, script] of Object.entries(scripts)) {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    t.equal(run.status, 0, `${name}: exits 0 (not killed by the timeout) ${run.stderr}`);
    t.equal(run.stdout.trim(), name === 'digested' ? createHash('sha256').update('abc').digest('hex') : 'abandoned', name);
  }
});

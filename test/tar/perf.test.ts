/**
 * The reader is on the hot path of every build: a 200 MB layer of 6,000 files must parse
 * in well under half a second of CPU. Measured in a worker thread: tap's async hooks in
 * the test's own thread make every promise an order of magnitude slower than in the tool.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { readTar } from '../../src/tar/reader.js';
import { buildLayer, chunked, type LayerEntry } from '../helpers/tar-build.js';

interface Result {
  size: number;
  files: number;
  bytes: number;
  expectedBytes: number;
  cpuMs: number[];
}

async function measure(): Promise<Result> {
  const content = Buffer.alloc(1 << 20, 0x42);
  const entries: LayerEntry[] = [];
  for (let i = 0; i < 6000; i++) {
    if (i % 100 === 0) entries.push({ path: `usr/share/dir${i}/` });
    const size = 1000 + ((i * 7919) % 66000);
    entries.push({ path: `usr/share/dir${i - (i % 100)}/file-${i}.dat`, data: content.subarray(0, size), mtime: 1_700_000_000 });
  }
  const tar = buildLayer(entries);
  const result: Result = { size: tar.length, files: 0, bytes: 0, expectedBytes: 0, cpuMs: [] };
  result.expectedBytes = entries.reduce((n, e) => n + (e.data?.length ?? 0), 0);
  for (let run = 0; run < 3; run++) {
    const before = process.cpuUsage();
    result.files = 0;
    result.bytes = 0;
    for await (const { entry, body } of readTar(chunked(tar, 64 * 1024))) {
      if (entry.type !== 'file') continue;
      result.files++;
      for await (const piece of body) result.bytes += piece.length;
    }
    const used = process.cpuUsage(before);
    result.cpuMs.push((used.user + used.system) / 1000);
  }
  return result;
}

if (isMainThread) {
  // tap is imported here only: loaded in the worker, it would talk to the parent itself.
  const { default: t } = await import('tap');
  t.test('200 MB, 6,000 files', async (t) => {
    const worker = new Worker(new URL(import.meta.url));
    const result = await new Promise<Result>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('benchmark worker timed out')), 120_000);
      worker.on('message', (r: Result) => (clearTimeout(timer), resolve(r)));
      worker.once('error', (e) => (clearTimeout(timer), reject(e)));
    });
    await worker.terminate();
    t.ok(result.size > 200e6, `archive of ${(result.size / 1e6).toFixed(0)} MB`);
    t.equal(result.files, 6000);
    t.equal(result.bytes, result.expectedBytes, 'every data byte delivered');
    const best = Math.min(...result.cpuMs);
    t.comment(`CPU per run: ${result.cpuMs.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    // The first run includes JIT warm-up; the target is for a warm reader.
    t.ok(best < 500, `parsed in ${best.toFixed(0)} ms of CPU (target well under 500)`);
  });
} else {
  parentPort?.postMessage(await measure());
}

/**
 * 100k entries must apply fast: lookups per component, no scans, nothing quadratic. The
 * workload runs in a worker thread (see fixtures/apply-scale-worker.ts) so that what is
 * timed is the applier, not tap's bookkeeping of every promise.
 */
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { DIRS, FILES_PER_DIR, type ScaleResult } from './fixtures/apply-scale-worker.js';

function runWorker(): Promise<ScaleResult> {
  const worker = new Worker(new URL('./fixtures/apply-scale-worker.ts', import.meta.url));
  let timer: NodeJS.Timeout | undefined;
  return new Promise<ScaleResult>((resolve, reject) => {
    timer = setTimeout(() => reject(new Error('the scale workload took more than 120 s')), 120_000);
    worker.once('message', (result: ScaleResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
  }).finally(() => {
    clearTimeout(timer);
    return worker.terminate();
  });
}

t.test(`${DIRS * FILES_PER_DIR} entries, then whiteouts over all of them`, async (t) => {
  const result = await runWorker();
  t.comment(`apply: ${result.applyMs.toFixed(0)} ms; whiteouts: ${result.whiteoutMs.toFixed(0)} ms; CPU ${result.cpuMs.toFixed(0)} ms`);
  t.equal(result.entries, 1 + DIRS * (FILES_PER_DIR + 1));
  t.equal(result.hardlinks, DIRS * (FILES_PER_DIR / 10));
  t.equal(result.paths, 3 + 2 * (DIRS / 2), 'only the new files are left');
  t.equal(result.released, DIRS * FILES_PER_DIR * 0.9, 'each content released once');
  t.same(result.problems, []);
  // About 1.5 s of CPU on this machine, test doubles included; a quadratic step is minutes.
  t.ok(result.cpuMs < 10_000, 'under 10 s of CPU');
});

/** A one-line progress bar on stderr, drawn only on a terminal (logs and pipes stay clean). */

const BAR_WIDTH = 30;
const REDRAW_INTERVAL_MS = 100;
const MIB = 1024 * 1024;

import type { Progress } from '../store/progress.js';

/** A progress bar for `total` bytes, or one that draws nothing when stderr is not a TTY. */
export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress & { setTotal(n: number): void } {
  if (!stream.isTTY) return { update: () => {}, finish: () => {}, setTotal: () => {} };
  let lastDraw = 0;
  let done = 0;
  let drawn = -1;
  const draw = () => {
    drawn = done;
    const fraction = total === 0 ? 1 : Math.min(1, done / total);
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
    stream.write(`\r${label} [${bar}] ${Math.floor(fraction * 100)}% ${(done / MIB).toFixed(0)}/${(total / MIB).toFixed(0)} MiB`);
  };
  return {
    update(doneBytes) {
      done = doneBytes;
      const now = Date.now();
      if (now - lastDraw >= REDRAW_INTERVAL_MS) {
        lastDraw = now;
        draw();
      }
    },
    finish() {
      done = total;
      if (drawn !== total) draw();
      stream.write('\n');
    },
    setTotal(n) {
      total = n;
    },
  };
}

/**
 * from-docker's progress on a terminal: bytes pulled over all layers as a bar, then bytes
 * written into the image per layer. Draws nothing when stderr is not a TTY.
 */
export function buildProgress(stream: NodeJS.WriteStream = process.stderr) {
  const tty = stream.isTTY === true;
  const pulled = new Map<number, { bytes: number; total: number }>();
  let bar: ReturnType<typeof progressBar> | undefined;
  let lastWrite = 0;
  let writing = false;
  return {
    pulled(layer: number, bytes: number, total: number): void {
      if (!tty) return;
      pulled.set(layer, { bytes, total });
      const sum = (k: 'bytes' | 'total') => [...pulled.values()].reduce((n, p) => n + p[k], 0);
      bar ??= progressBar('Pulling', 0, stream);
      bar.setTotal(sum('total'));
      bar.update(sum('bytes'));
    },
    wrote(layer: number, layers: number, bytes: number): void {
      if (!tty) return;
      if (bar) {
        bar.finish();
        bar = undefined;
      }
      const now = Date.now();
      if (now - lastWrite < REDRAW_INTERVAL_MS) return;
      lastWrite = now;
      writing = true;
      stream.write(`\r\x1b[KWriting layer ${layer + 1}/${layers}: ${(bytes / MIB).toFixed(0)} MiB`);
    },
    done(): void {
      bar?.finish();
      bar = undefined;
      if (writing) stream.write('\r\x1b[K');
      writing = false;
    },
  };
}

/** A one-line progress bar on stderr, drawn only on a terminal (logs and pipes stay clean). */

const BAR_WIDTH = 30;
const REDRAW_INTERVAL_MS = 100;
const MIB = 1024 * 1024;

export interface Progress {
  update(doneBytes: number): void;
  finish(): void;
}

/** A progress bar for `total` bytes, or one that draws nothing when stderr is not a TTY. */
export function progressBar(label: string, total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update: () => {}, finish: () => {} };
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
  };
}

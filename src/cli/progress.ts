/**
 * Draws the library's one progress channel (src/events.ts) for a terminal: step lines
 * through the command's Output, bars and counters on stderr only when it is a TTY (logs
 * and pipes stay clean), warnings on stderr, escaped.
 */
import type { ProgressEvent, StepFacts } from '../events.js';
import { escapeControls } from './escape.js';
import type { Output } from './output.js';

const BAR_WIDTH = 30;
const REDRAW_INTERVAL_MS = 100;
const MIB = 1024 * 1024;

export interface ProgressView<Step extends string> {
  onEvent(event: ProgressEvent<Step>): void;
  /** Ends whatever is drawn (call once the operation returns or throws). */
  done(): void;
}

export interface ViewOptions<Step extends string> {
  /** Lines printed when the first step starts, i.e. once every option has been checked. */
  header?: readonly string[];
  /** The operation's steps in order, printed as `[i/n] …`; none for a transfer. */
  steps?: readonly Step[];
  /** The command's wording of a step. */
  stepLine?: (step: Step, facts: StepFacts) => string;
  /** The label of a transfer's bar (`Uploading`). */
  transferLabel?: string;
  /** Draw nothing but step lines and warnings (--quiet, or not a terminal). */
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

export function progressView<Step extends string>(out: Output, options: ViewOptions<Step>): ProgressView<Step> {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true && !options.quiet;
  const pulled = new Map<number, { bytes: number; total: number }>();
  let bar: Bar | undefined;
  let line = false;
  let lastLine = 0;
  let header = options.header ?? [];
  const done = () => {
    bar?.finish();
    bar = undefined;
    if (line) stream.write('\r\x1b[K');
    line = false;
  };
  const counter = (text: string) => {
    if (bar) done();
    const now = Date.now();
    if (now - lastLine < REDRAW_INTERVAL_MS) return;
    lastLine = now;
    line = true;
    stream.write(`\r\x1b[K${text}`);
  };
  return {
    onEvent(event) {
      switch (event.type) {
        case 'step': {
          done();
          for (const line of header) out.info(line);
          header = [];
          const steps = options.steps ?? [];
          const text = options.stepLine?.(event.step, event.facts ?? {}) ?? event.step;
          out.info(`[${steps.indexOf(event.step) + 1}/${steps.length}] ${text}`);
          break;
        }
        case 'pull': {
          if (!tty) return;
          pulled.set(event.layer, { bytes: event.bytes, total: event.total });
          const sum = (k: 'bytes' | 'total') => [...pulled.values()].reduce((n, p) => n + p[k], 0);
          bar ??= new Bar('Pulling', stream);
          bar.update(sum('bytes'), sum('total'));
          break;
        }
        case 'write':
          if (tty) counter(`Writing layer ${event.layer + 1}/${event.layers}: ${(event.bytes / MIB).toFixed(0)} MiB`);
          break;
        case 'transfer':
          if (!tty) return;
          bar ??= new Bar(options.transferLabel ?? 'Transferring', stream);
          bar.update(event.bytes, event.total);
          break;
        case 'size':
          if (event.auto) out.info(`  Size chosen: ${Math.round(event.bytes / MIB)} MB`);
          break;
        case 'warning':
          done();
          out.warn(escapeControls(event.text)); // may quote a registry's or an image's text
          break;
      }
    },
    done,
  };
}

/** A one-line bar: `Label [####------] 40% 12/30 MiB`, redrawn at most every 100 ms. */
class Bar {
  private done = 0;
  private total = 0;
  private lastDraw = 0;
  private drawn = -1;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  update(done: number, total: number): void {
    this.done = done;
    this.total = total;
    const now = Date.now();
    if (now - this.lastDraw < REDRAW_INTERVAL_MS) return;
    this.lastDraw = now;
    this.draw();
  }

  finish(): void {
    if (this.drawn !== this.done) this.draw();
    this.stream.write('\n');
  }

  private draw(): void {
    this.drawn = this.done;
    const fraction = this.total === 0 ? 1 : Math.min(1, this.done / this.total);
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
    this.stream.write(`\r${this.label} [${bar}] ${Math.floor(fraction * 100)}% ${(this.done / MIB).toFixed(0)}/${(this.total / MIB).toFixed(0)} MiB`);
  }
}

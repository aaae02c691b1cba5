/** The CLI's drawing of the library's one progress channel (src/events.ts). */
import t from 'tap';
import { progressView } from '../../src/cli/progress.js';
import type { Output } from '../../src/cli/output.js';

function capture(tty: boolean) {
  const drawn: string[] = [];
  const stream = { isTTY: tty, write: (s: string) => drawn.push(s) } as unknown as NodeJS.WriteStream;
  const lines: string[] = [];
  const out: Output = { info: (l) => lines.push(`info ${l}`), warn: (l) => lines.push(`warn ${l}`), result: () => {} };
  return { drawn, lines, stream, out };
}

t.test('steps are numbered in the order declared, worded by the command, with their facts', async (t) => {
  const c = capture(false);
  const view = progressView<'a' | 'b'>(c.out, { steps: ['a', 'b'], stepLine: (step, facts) => `${step}:${facts.packages ?? '-'}`, stream: c.stream });
  view.onEvent({ type: 'step', step: 'b', facts: { packages: 7 } });
  view.onEvent({ type: 'step', step: 'a' });
  view.onEvent({ type: 'size', bytes: 300 * 1024 * 1024, auto: true });
  view.onEvent({ type: 'size', bytes: 300 * 1024 * 1024, auto: false });
  view.onEvent({ type: 'warning', text: 'ENV \x1b[31mX left out' });
  view.done();
  t.same(c.lines, ['info [2/2] b:7', 'info [1/2] a:-', 'info   Size chosen: 300 MB', 'warn ENV \\x1b[31mX left out']);
  t.same(c.drawn, [], 'nothing drawn when stderr is not a terminal');
});

t.test('on a terminal: pull bytes summed over layers, a transfer bar, ended cleanly', async (t) => {
  const c = capture(true);
  const view = progressView(c.out, { transferLabel: 'Uploading', stream: c.stream });
  view.onEvent({ type: 'transfer', bytes: 0, total: 4 * 1048576 });
  view.onEvent({ type: 'transfer', bytes: 4 * 1048576, total: 4 * 1048576 });
  view.done();
  t.match(c.drawn[0], /^\rUploading \[-{30}\] 0% 0\/4 MiB$/);
  t.match(c.drawn.at(-2), /^\rUploading \[#{30}\] 100% 4\/4 MiB$/, 'the last state is drawn before the bar ends');
  t.equal(c.drawn.at(-1), '\n');

  const p = capture(true);
  const pull = progressView(p.out, { stream: p.stream });
  pull.onEvent({ type: 'pull', layer: 0, bytes: 1048576, total: 2 * 1048576 });
  pull.onEvent({ type: 'pull', layer: 1, bytes: 1048576, total: 2 * 1048576 });
  pull.done();
  t.match(p.drawn.join(''), /Pulling \[#{15}-{15}\] 50% 2\/4 MiB\n$/, 'both layers counted');

  const q = capture(true);
  const quiet = progressView(q.out, { quiet: true, stream: q.stream });
  quiet.onEvent({ type: 'pull', layer: 0, bytes: 1, total: 2 });
  quiet.done();
  t.same(q.drawn, [], '--quiet draws nothing');
});

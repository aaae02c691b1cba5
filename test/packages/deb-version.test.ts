/**
 * dpkg version order (Debian Policy §5.6.12) against `dpkg --compare-versions` itself on
 * a few thousand generated pairs, plus the Policy's own examples.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { compareVersions, satisfiesVersion } from '../../src/packages/deb/version.js';
import { prerequisites } from '../helpers/env.js';

t.test("the Policy's examples", async (t) => {
  t.ok(compareVersions('1.0~rc1', '1.0') < 0, '~ sorts before the end');
  t.ok(compareVersions('1.0~~', '1.0~~a') < 0);
  t.ok(compareVersions('1.0~', '1.0') < 0);
  t.ok(compareVersions('1:0.1', '2.0') > 0, 'the epoch first');
  t.ok(compareVersions('1.0a', '1.0+') < 0, 'letters before non-letters');
  t.equal(compareVersions('1.01', '1.1'), 0, 'digits compare numerically');
  t.equal(compareVersions('0:1.0', '1.0'), 0, 'epoch 0 is no epoch');
  t.ok(compareVersions('1.0-1-2', '1.0-1-10') < 0, 'the revision follows the last hyphen');
  t.ok(satisfiesVersion('2.0', '>>', '1.9') && !satisfiesVersion('2.0', '<<', '2.0') && satisfiesVersion('2.0', '=', '2.00'));
  t.throws(() => compareVersions('1.0 beta', '1'), { code: 'INPUT' });
  t.throws(() => compareVersions('1:+', '1'), { code: 'INPUT' }, 'an upstream version starts with a digit');
  t.throws(() => compareVersions('1.2:3', '1'), { code: 'INPUT' }, 'a colon needs an epoch');
});

/** A deterministic generator, so a failure can be replayed. */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomVersion(rand: () => number): string {
  const pick = (chars: string): string => chars[Math.floor(rand() * chars.length)]!;
  const part = (length: number): string => {
    let out = '';
    for (let i = 0; i < length; i++) out += rand() < 0.5 ? pick('0123456789') : pick('0019aAzZ.+~');
    return out;
  };
  const epoch = rand() < 0.2 ? `${Math.floor(rand() * 3)}:` : '';
  const upstream = pick('0123456789') + part(Math.floor(rand() * 6));
  const revision = rand() < 0.6 ? `-${pick('0123456789a~')}${part(Math.floor(rand() * 4))}` : '';
  return `${epoch}${upstream}${revision}`;
}

t.test('2,000 generated pairs ordered as dpkg --compare-versions orders them', async (t) => {
  if (!prerequisites(t, { tools: ['dpkg'] })) return;
  const rand = generator(20240601);
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < 2000; i++) {
    const a = randomVersion(rand);
    // Every third pair differs in one character, where the order is decided.
    const mutated = a.slice(0, -1) + randomVersion(rand).slice(-1);
    const b = i % 3 === 0 && !/(^|:)\D/.test(mutated) ? mutated : randomVersion(rand);
    pairs.push([a, b]);
  }
  const script = 'while read -r a b; do if dpkg --compare-versions "$a" lt "$b"; then echo "<"; elif dpkg --compare-versions "$a" eq "$b"; then echo "="; else echo ">"; fi; done';
  const verdicts = execFileSync('sh', ['-c', script], { input: pairs.map(([a, b]) => `${a} ${b}`).join('\n') + '\n', encoding: 'utf8', timeout: 300_000, stdio: ['pipe', 'pipe', 'ignore'] }).trim().split('\n');
  t.equal(verdicts.length, pairs.length);
  const wrong = pairs.filter(([a, b], i) => {
    const c = compareVersions(a, b);
    return (c < 0 ? '<' : c === 0 ? '=' : '>') !== verdicts[i];
  });
  t.same(wrong, [], 'every pair in dpkg\'s order');
  t.ok(verdicts.filter((v) => v === '=').length > 10 && verdicts.filter((v) => v === '<').length > 500, 'the pairs cover all three outcomes');
});

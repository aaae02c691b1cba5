/**
 * apk version order against pairs from apk-tools' own test data (test/apk-version.data,
 * a selection of alpinelinux/apk-tools test/version.data), each checked both ways.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { compareApkVersions, isApkVersion, satisfiesApkVersion } from '../../src/packages/apk/version.js';

const SIGN = { '<': -1, '=': 0, '>': 1 } as const;

t.test("apk-tools' version pairs", async (t) => {
  const lines = readFileSync(new URL('apk-version.data', import.meta.url), 'utf8').split('\n');
  let pairs = 0;
  for (const line of lines) {
    if (line === '' || line.startsWith('#')) continue;
    const [a, op, b] = line.split(/\s+/) as [string, keyof typeof SIGN, string];
    t.equal(Math.sign(compareApkVersions(a, b)), SIGN[op], line);
    t.equal(Math.sign(compareApkVersions(b, a)), -SIGN[op], `${b} against ${a}`);
    pairs++;
  }
  t.ok(pairs > 100, `${pairs} pairs`);
});

t.test('validity and constraints', async (t) => {
  t.ok(isApkVersion('1.2.3_rc1_p2-r10'));
  t.ok(isApkVersion('2.12r-r4'));
  t.notOk(isApkVersion('1.0bc'), 'two letters');
  t.notOk(isApkVersion('1.0-x'), 'a hyphen not followed by r');
  t.notOk(isApkVersion('1.0-r1.2'), 'nothing but digits after -r');
  t.notOk(isApkVersion(''));
  t.ok(satisfiesApkVersion('1.2.3-r1', '>=', '1.2.3'));
  t.notOk(satisfiesApkVersion('1.2.3_rc1', '>=', '1.2.3'));
  t.ok(satisfiesApkVersion('1.2.3-r4', '~', '1.2'));
  t.notOk(satisfiesApkVersion('1.20', '~', '1.2'));
  t.ok(satisfiesApkVersion('1.0', '<', '1.0-r1'));
  t.ok(satisfiesApkVersion('1.0-r1', '>', '1.0'), 'a revision is newer than none');
});

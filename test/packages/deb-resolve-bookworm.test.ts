/**
 * Resolution against the real bookworm archive, with the debootstrap minbase tree as the
 * base: the packages chosen for `python3` (names and versions) equal what apt-get itself
 * plans for `install --no-install-recommends python3` on that tree (apt run with the tree
 * as its root directory and a temporary state directory, so the cached tree is untouched).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chooseDebs } from '../../src/packages/deb/resolve.js';
import { debianMinbaseDir, debianMirror } from '../helpers/boot.js';
import { prerequisites, tempDir } from '../helpers/env.js';
import { baseFromDir } from './deb-repo-fixture.js';

/** apt-get with `root` as its configuration and status, and its own lists and cache in `state`. */
function aptGet(root: string, state: string, args: string[]): string {
  const options = {
    Dir: root,
    'Dir::State': join(state, 'state'),
    'Dir::State::status': join(root, 'var/lib/dpkg/status'),
    'Dir::Cache': join(state, 'cache'),
    'Debug::NoLocking': '1',
  };
  return execFileSync('apt-get', ['-q', ...Object.entries(options).flatMap(([k, v]) => ['-o', `${k}=${v}`]), ...args], { encoding: 'utf8', timeout: 300_000 });
}

t.test('python3 on the minbase tree: the same packages and versions as apt-get plans', async (t) => {
  if (!prerequisites(t, { tools: ['debootstrap', 'apt-get'] })) return;
  const root = debianMinbaseDir();
  const state = tempDir(t);
  mkdirSync(join(state, 'state/lists/partial'), { recursive: true });
  mkdirSync(join(state, 'cache/archives/partial'), { recursive: true });
  aptGet(root, state, ['update']);
  const plan = aptGet(root, state, ['-s', 'install', '--no-install-recommends', 'python3']);
  const expected = [...plan.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) /gm)].map((m) => `${m[1]}=${m[2]}`).sort();
  t.ok(expected.some((p) => p.startsWith('python3=')), 'apt plans python3');

  const events: string[] = [];
  const chosen = await chooseDebs({ ...(await baseFromDir(root)), packages: ['python3'], arch: 'amd64', progress: (e) => events.push(e.kind) });
  t.same(chosen.map((o) => `${o.stanza.package}=${o.stanza.version}`).sort(), expected, 'the same set as apt-get -s');
  t.same(events, ['repository'], 'the one source of the tree was read');

  const position = new Map(chosen.map((o, i) => [o.stanza.package, i]));
  const before = (a: string, b: string) => position.get(a)! < position.get(b)!;
  t.ok(before('python3.11-minimal', 'python3-minimal') && before('python3-minimal', 'python3') && before('libpython3.11-stdlib', 'python3.11'), 'dependencies first');
  t.equal(chosen[chosen.length - 1]!.stanza.package, 'python3', 'what was asked for comes last');
});

t.test('bookworm-updates, published as xz only, read through its signed Release', async (t) => {
  if (!prerequisites(t, { tools: ['debootstrap'] })) return;
  const events: Array<{ uri: string; suite: string; packages: number }> = [];
  const chosen = await chooseDebs({
    ...(await baseFromDir(debianMinbaseDir())),
    sources: [`deb ${debianMirror()} bookworm-updates main`],
    packages: [],
    arch: 'amd64',
    progress: (e) => e.kind === 'repository' && events.push(e),
  });
  t.same(chosen, []);
  t.equal(events.length, 1);
  t.ok(events[0]!.packages > 0, `its Packages.xz lists ${events[0]!.packages} packages`);
});

/** Mistyped commands get the command the user meant; every command's help shows the spec's examples. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { CLI } from './helpers/env.js';
import { editDistance, nearest } from '../src/cli/suggest.js';

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
}

t.test('typos are answered with the nearest command, exit 2', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['rootfs', 'from-dokcer'], /Unknown rootfs command 'from-dokcer'\. Did you mean 'from-docker'\?/],
    [['rootfs', 'lst'], /Did you mean 'list'\?/],
    [['rootfs', 'upload2'], /Did you mean 'upload'\?/],
    [['from-docker', '-n', 'a', '-i', 'x', '-s', '1'], /'from-docker' is a rootfs command: run 'infra\.operator rootfs from-docker \.\.\.'/],
    [['roots', 'list'], /Did you mean 'rootfs'\?/],
    [['frobnicate'], /Unknown command 'frobnicate'\. Run 'infra\.operator --help'/],
    [['rootfs'], /Name a rootfs command: from-docker, create, list, upload, download, inspect, run/],
    [[], /Name a command: rootfs\nRun 'infra\.operator --help' for usage\./],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    t.equal(r.status, 2, `infra.operator ${args.join(' ')} exits 2`);
    t.match(r.stderr, message, `infra.operator ${args.join(' ')}`);
    t.notMatch(r.stderr, /infra\.operator {2}|Unknown arguments: n, i/, 'no misleading hint');
  }
  t.match(cli(['rootfs', 'list', '--bogus']).stderr, /Run 'infra\.operator rootfs list --help'/, 'flag errors name the real command');
});

t.test('nearest names: close typos only', async (t) => {
  t.equal(editDistance('from-dokcer', 'from-docker'), 1, 'a transposition is one edit');
  t.equal(nearest('DOWNLOAD', ['upload', 'download']), 'download');
  t.equal(nearest('xyz', ['list', 'run']), undefined, 'nothing close: no guess');
});

t.test("each command's help shows the spec's examples", async (t) => {
  const examples: Record<string, string> = {
    'from-docker': 'infra.operator rootfs from-docker --name python --image python:3.12-alpine --size 150',
    create: 'infra.operator rootfs create --lang python --packages "numpy,pandas"',
    list: 'infra.operator rootfs list --remote',
    upload: 'infra.operator rootfs upload --lang nodejs --bucket s3://my-bucket',
    download: 'infra.operator rootfs download --lang nodejs --output /tmp/nodejs.ext4',
    inspect: 'infra.operator rootfs inspect python',
    run: "infra.operator rootfs run ./rootfs-alpine.ext4 --code 'uname -a'",
  };
  for (const [command, example] of Object.entries(examples)) {
    const r = cli(['rootfs', command, '--help']);
    t.equal(r.status, 0, `${command} --help`);
    const shown = r.stdout.slice(r.stdout.indexOf('Examples:'));
    t.ok(r.stdout.includes('Examples:'), `${command} has examples`);
    // yargs wraps long examples beside their description: the words come in order.
    t.ok(inOrder(shown.split(/\s+/), example.split(' ')), `${command} shows: ${example}`, { shown });
  }
});

/** Whether `words` appear in `text` in this order (other words may come between). */
function inOrder(text: string[], words: string[]): boolean {
  let at = 0;
  for (const word of text) if (word === words[at]) at++;
  return at === words.length;
}

/**
 * The one language table: the runner script's case lists come from it (every name gets
 * its file and command from the runner itself, under a real shell), docs/guest-runner.md
 * lists the same names and files, and the host refuses any other name.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LANGUAGES, checkLanguage, findLanguage } from '../../src/guest/languages.js';
import { GUEST_RUNNER_SCRIPT } from '../../src/guest/runner-script.js';
import { REPO, tempDir, which } from '../helpers/env.js';

t.test('the runner answers every name with the file and command of the table', async (t) => {
  const shell = which('dash') ?? which('bash') ?? '/bin/sh';
  const dir = tempDir(t);
  // The script's functions without its `main "$@"` call: sourced, then asked.
  const functions = join(dir, 'functions.sh');
  writeFileSync(functions, GUEST_RUNNER_SCRIPT.replace(/\nmain "\$@"\n$/, '\n'));
  for (const language of LANGUAGES) {
    t.notMatch(language.command, /'/, `${language.names[0]}: the command can be single-quoted`);
    for (const name of language.names) {
      const r = spawnSync(shell, ['-c', '. "$1"; code_file_for "$2" && command_for "$2"', 'sh', functions, name], { encoding: 'utf8' });
      t.equal(r.stdout, `${language.file}\n${language.command}\n`, `${name} under ${shell}`);
    }
  }
  const unknown = spawnSync(shell, ['-c', '. "$1"; code_file_for cobol || command_for cobol || echo none', 'sh', functions], { encoding: 'utf8' });
  t.equal(unknown.stdout, 'none\n');
});

t.test('docs/guest-runner.md lists the table', async (t) => {
  const doc = readFileSync(join(REPO, 'docs/guest-runner.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Languages'), doc.indexOf('## How a job runs'));
  const rows = section.split('\n').filter((line) => /^\| `/.test(line)).slice(1); // after the header row
  const documented = rows.map((row) => {
    const [names, file] = row.split('|').slice(1, 3).map((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
    return { names, file: file![0] };
  });
  t.same(documented, LANGUAGES.map(({ names, file }) => ({ names, file })));
});

t.test('the host refuses a name not in the table, naming the option', async (t) => {
  t.equal(findLanguage('py')?.file, 'main.py');
  t.equal(findLanguage('R')?.file, 'main.R', 'names are case-sensitive, as in the runner');
  t.equal(findLanguage('Python'), undefined);
  t.doesNotThrow(() => checkLanguage('c#'));
  t.throws(() => checkLanguage('cobol'), { code: 'USAGE', option: 'lang', message: /no language "cobol".*sh, bash, python/ });
});

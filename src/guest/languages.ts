/**
 * The guest runner's language table, declared once: the runner script's `case` lists are
 * generated from it (runner-script.ts) and the host refuses a language it does not hold
 * before anything boots. Names and commands follow the seed system's language pages
 * (docs/guest-runner.md, "Languages").
 */
import { InfraError } from '../errors.js';

export interface Language {
  /** The name and its aliases as the manifest's `lang` gives them (case-sensitive, as sh `case` matches). */
  names: readonly string[];
  /** The code file's name in the job directory. */
  file: string;
  /**
   * sh text that runs the program: `$1` is the code file, `$2` the job directory;
   * `infra_first A B…` prints the first of the programs found on PATH.
   */
  command: string;
}

export const LANGUAGES: readonly Language[] = [
  { names: ['sh', 'shell'], file: 'main.sh', command: 'exec /bin/sh "$1"' },
  { names: ['bash'], file: 'main.sh', command: 'exec bash "$1"' },
  { names: ['python', 'python3', 'py'], file: 'main.py', command: 'exec "$(infra_first python3 python)" "$1"' },
  { names: ['node', 'nodejs', 'javascript', 'js'], file: 'main.js', command: 'exec node "$1"' },
  { names: ['ruby', 'rb'], file: 'main.rb', command: 'exec ruby "$1"' },
  { names: ['php'], file: 'main.php', command: 'exec php "$1"' },
  { names: ['perl', 'pl'], file: 'main.pl', command: 'exec perl "$1"' },
  { names: ['lua'], file: 'main.lua', command: 'exec "$(infra_first lua lua5.4 lua5.3 lua5.2 lua5.1 luajit)" "$1"' },
  { names: ['r', 'R'], file: 'main.R', command: 'exec Rscript "$1"' },
  { names: ['lisp', 'sbcl', 'commonlisp'], file: 'main.lisp', command: 'exec sbcl --script "$1"' },
  { names: ['go', 'golang'], file: 'main.go', command: '[ -n "$GOCACHE" ] || export GOCACHE="$2/.gocache"; exec go run "$1"' },
  { names: ['rust', 'rs'], file: 'main.rs', command: 'rustc -o "$2/runbin" "$1" && exec "$2/runbin"' },
  { names: ['c'], file: 'main.c', command: '"$(infra_first gcc cc clang)" -o "$2/runbin" "$1" && exec "$2/runbin"' },
  { names: ['cpp', 'c++', 'cxx'], file: 'main.cpp', command: '"$(infra_first g++ c++ clang++)" -o "$2/runbin" "$1" && exec "$2/runbin"' },
  { names: ['java'], file: 'Main.java', command: 'exec java "$1"' },
  {
    names: ['dotnet', 'csharp', 'cs', 'c#'],
    file: 'Program.cs',
    command: String.raw`printf "%s\n" "<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net$(dotnet --version | cut -d. -f1-2)</TargetFramework><ImplicitUsings>enable</ImplicitUsings></PropertyGroup></Project>" > "$2/job.csproj" && exec dotnet run --project "$2/job.csproj"`,
  },
];

/** The table's entry for `lang`, or undefined. */
export function findLanguage(lang: string): Language | undefined {
  return LANGUAGES.find((language) => language.names.includes(lang));
}

/** Refuses a language the runner would answer with "unsupported language" only after the boot. */
export function checkLanguage(lang: string): void {
  if (findLanguage(lang) !== undefined) return;
  throw new InfraError('USAGE', `The guest runner has no language "${lang}".`, {
    option: 'lang',
    hint: `pass one of ${LANGUAGES.map((language) => language.names[0]).join(', ')} as {lang} (aliases: docs/guest-runner.md)`,
  });
}

/** The runner's `code_file_for` cases: one per file name, the languages sharing it joined. */
export function codeFileCases(indent: string): string {
  const groups: Array<{ names: string[]; file: string }> = [];
  for (const { names, file } of LANGUAGES) {
    const last = groups.at(-1);
    if (last?.file === file) last.names.push(...names);
    else groups.push({ names: [...names], file });
  }
  return groups.map(({ names, file }) => `${indent}${names.join('|')}) say ${file} ;;`).join('\n');
}

/** The runner's `command_for` cases: each command printed single-quoted (none holds a quote). */
export function commandCases(indent: string): string {
  return LANGUAGES.map(({ names, command }) => `${indent}${names.join('|')}) say '${command}' ;;`).join('\n');
}

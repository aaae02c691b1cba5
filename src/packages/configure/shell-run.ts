/**
 * Following a maintainer script (parsed by shell-parse.ts) the way `sh` would run it, with
 * every command that is not a shell builtin handed to a host: the host does the effects it
 * knows on the tree (update-alternatives, mkdir, ucf…) and says which it does not. Nothing
 * is executed on the machine. A command the host does not handle is recorded and taken as
 * succeeded, so the rest of the script is still followed; the caller decides what a
 * package with such commands is (dpkg would have run them: it stays unconfigured).
 */
import type { Command, Redirect, Word } from './shell-parse.js';
import { parseScript } from './shell-parse.js';

/** What a command the host ran prints, and its exit status. */
export interface HostResult {
  status: number;
  output: string;
}

export interface ScriptHost {
  /** Runs `argv` (no builtin, no function of the script); undefined when the host cannot. */
  command(argv: readonly string[]): HostResult | undefined;
  /** test(1)'s file operators (`-e`, `-f`, `-d`, `-h`/`-L`, `-x`, `-r`, `-s`, `-w`) on the tree. */
  fileTest(operator: string, path: string): boolean;
  /** `. FILE`: whether sourcing it is understood (its functions then come as host commands). */
  source(path: string): boolean;
  /** Names in directory `dir` of the tree, sorted (pathname expansion). */
  list(dir: string): string[];
  /** `> FILE` / `>> FILE` of a command whose output is known; false when not done. */
  write(path: string, text: string, append: boolean): boolean;
}

/** What a command's redirections amount to: a here-document on stdin, stdout into a file. */
interface RedirectPlan {
  stdin?: string;
  output?: { path: string; append: boolean };
}

export interface ScriptRun {
  /** The commands (and redirections) that were not followed, as written after expansion. */
  unhandled: string[];
  status: number;
}

/** Steps one script may take: its loops are over short lists. */
const MAX_STEPS = 100_000;
const MAX_CALL_DEPTH = 32;
/** Shell builtins with no effect on the tree. */
const NO_EFFECT = new Set([':', 'true', 'set', 'trap', 'umask', 'wait', 'hash', 'type', 'ulimit']);

class Exit {
  constructor(readonly status: number) {}
}
class Return {
  constructor(readonly status: number) {}
}
class LoopJump {
  constructor(readonly kind: 'break' | 'continue') {}
}

/** Runs `source` as `sh SCRIPT args…` would, against `host`. A script that does not parse is one unhandled step. */
export function runScript(source: string, args: readonly string[], env: Record<string, string>, host: ScriptHost, what: string): ScriptRun {
  let commands: Command[];
  try {
    commands = parseScript(source, what);
  } catch (err) {
    return { unhandled: [`(the script: ${(err as Error).message})`], status: 0 };
  }
  const shell = new Shell(host, new Map(Object.entries(env)), [what, ...args]);
  let status: number;
  try {
    status = shell.list(commands);
  } catch (err) {
    if (err instanceof Exit || err instanceof Return) status = err.status;
    else if (err instanceof StepLimit) return { unhandled: [...shell.unhandled, `(more than ${MAX_STEPS} steps)`], status: 1 };
    else throw err;
  }
  return { unhandled: shell.unhandled, status };
}

class StepLimit extends Error {}

class Shell {
  readonly unhandled: string[] = [];
  private readonly functions = new Map<string, Command>();
  private steps = 0;
  private depth = 0;
  private status = 0;
  /** Output being captured by `$(…)`, innermost last. */
  private readonly captures: string[][] = [];

  constructor(
    private readonly host: ScriptHost,
    private readonly vars: Map<string, string>,
    private positional: string[],
  ) {}

  list(commands: readonly Command[]): number {
    if (commands.length === 0) return 0;
    for (const command of commands) this.status = this.run(command);
    return this.status;
  }

  private run(command: Command): number {
    if (++this.steps > MAX_STEPS) throw new StepLimit();
    switch (command.kind) {
      case 'simple':
        return this.simple(command.assignments, command.words, command.redirects);
      case 'and': {
        const left = this.run(command.left);
        return left === 0 ? this.run(command.right) : left;
      }
      case 'or': {
        const left = this.run(command.left);
        return left !== 0 ? this.run(command.right) : left;
      }
      case 'not':
        return this.run(command.command) === 0 ? 1 : 0;
      case 'pipe':
        // Output does not flow between the commands here: a pipeline is not followed.
        this.unhandled.push(`(a pipeline: ${command.commands.length} commands)`);
        return 0;
      case 'if': {
        for (const branch of command.branches) if (this.list(branch.condition) === 0) return this.list(branch.body);
        return command.otherwise.length > 0 ? this.list(command.otherwise) : 0;
      }
      case 'for':
        return this.forLoop(command.name, command.items, command.body);
      case 'while':
      case 'until':
        return this.loop(() => (this.list(command.condition) === 0) === (command.kind === 'while'), command.body);
      case 'case': {
        const subject = this.expandOne(command.subject);
        const arm = command.arms.find((a) => a.patterns.some((pattern) => globRegExp(this.expandPattern(pattern)).test(subject)));
        return arm === undefined ? 0 : this.list(arm.body);
      }
      case 'group': {
        const plan = this.plan(command.redirects, 'a group');
        if (plan === undefined || plan.output !== undefined || plan.stdin !== undefined) {
          if (plan !== undefined) this.unhandled.push('(a group with redirections)');
          return 0;
        }
        return this.subshell(command.subshell, () => this.list(command.body));
      }
      case 'function':
        this.functions.set(command.name, command.body);
        return 0;
    }
  }

  private forLoop(name: string, items: Word[] | undefined, body: Command[]): number {
    const values = items === undefined ? this.positional.slice(1) : items.flatMap((item) => this.expand(item));
    let index = 0;
    return this.loop(() => {
      if (index >= values.length) return false;
      this.vars.set(name, values[index++]!);
      return true;
    }, body);
  }

  private loop(again: () => boolean, body: Command[]): number {
    let status = 0;
    while (again()) {
      try {
        status = this.list(body);
      } catch (err) {
        if (!(err instanceof LoopJump)) throw err;
        if (err.kind === 'break') break;
      }
    }
    return status;
  }

  /** A subshell's variable changes do not leave it. */
  private subshell(isolated: boolean, body: () => number): number {
    if (!isolated) return body();
    const saved = new Map(this.vars);
    try {
      return body();
    } catch (err) {
      if (err instanceof Exit) return err.status;
      throw err;
    } finally {
      this.vars.clear();
      for (const [k, v] of saved) this.vars.set(k, v);
    }
  }

  private simple(assignments: Array<[string, Word]>, words: Word[], redirects: Redirect[]): number {
    const values = assignments.map(([name, word]) => [name, this.expandOne(word)] as const);
    const argv = words.flatMap((word) => this.expand(word));
    if (argv.length === 0) {
      for (const [name, value] of values) this.vars.set(name, value);
      return 0;
    }
    const plan = this.plan(redirects, argv.join(' '));
    if (plan === undefined) return 0;
    if (plan.output === undefined) return this.execute(argv, plan.stdin);
    const before = this.unhandled.length;
    let text = '';
    let status: number;
    this.captures.push([]);
    try {
      status = this.execute(argv, plan.stdin);
    } finally {
      text = this.captures.pop()!.join('');
    }
    if (this.unhandled.length === before && !this.host.write(plan.output.path, text, plan.output.append)) {
      this.unhandled.push(`${argv.join(' ')} ${plan.output.append ? '>>' : '>'} ${plan.output.path}`);
    }
    return status;
  }

  /**
   * Redirections to /dev/null and between descriptors change nothing; a literal
   * here-document is stdin; stdout into a file is written by the host. Anything else
   * (reading a file, stderr into one) is recorded as not followed: undefined.
   */
  private plan(redirects: readonly Redirect[], what: string): RedirectPlan | undefined {
    const plan: RedirectPlan = {};
    for (const redirect of redirects) {
      const target = this.expandOne(redirect.target);
      if (redirect.op === '>&' || redirect.op === '<&' || target === '/dev/null') continue;
      if (redirect.heredoc?.literal && redirect.fd === 0) plan.stdin = redirect.heredoc.text;
      else if (redirect.fd === 1 && (redirect.op === '>' || redirect.op === '>>' || redirect.op === '>|')) plan.output = { path: target, append: redirect.op === '>>' };
      else {
        this.unhandled.push(`${what} ${redirect.op} ${target}`);
        return undefined;
      }
    }
    return plan;
  }

  private execute(argv: string[], stdin?: string): number {
    const [name, ...args] = argv as [string, ...string[]];
    if (NO_EFFECT.has(name)) return 0;
    switch (name) {
      case 'false':
        return 1;
      case 'exit':
        throw new Exit(args[0] === undefined ? this.status : Number(args[0]) || 0);
      case 'return':
        throw new Return(args[0] === undefined ? this.status : Number(args[0]) || 0);
      case 'break':
      case 'continue':
        throw new LoopJump(name);
      case 'cat':
        if (args.length === 0 && stdin !== undefined) {
          this.print(stdin);
          return 0;
        }
        break;
      case 'echo':
        this.print(`${(args[0] === '-n' ? args.slice(1) : args).join(' ')}${args[0] === '-n' ? '' : '\n'}`);
        return 0;
      case 'export':
      case 'local':
      case 'readonly':
        for (const arg of args) {
          const eq = arg.indexOf('=');
          if (eq > 0) this.vars.set(arg.slice(0, eq), arg.slice(eq + 1));
        }
        return 0;
      case 'unset':
        for (const arg of args) if (!arg.startsWith('-')) this.vars.delete(arg);
        return 0;
      case 'shift':
        this.positional = [this.positional[0]!, ...this.positional.slice(1 + (Number(args[0]) || 1))];
        return 0;
      case '[':
        return evaluateTest(args[args.length - 1] === ']' ? args.slice(0, -1) : args, this.host) ? 0 : 1;
      case 'test':
        return evaluateTest(args, this.host) ? 0 : 1;
      case '.':
      case 'source':
        if (this.host.source(args[0] ?? '')) return 0;
        break;
    }
    const body = this.functions.get(name);
    if (body !== undefined) return this.call(body, argv);
    const result = this.host.command(argv);
    if (result === undefined) {
      this.unhandled.push(argv.join(' '));
      return 0;
    }
    this.print(result.output);
    return result.status;
  }

  private call(body: Command, argv: string[]): number {
    if (++this.depth > MAX_CALL_DEPTH) throw new StepLimit();
    const saved = this.positional;
    this.positional = [saved[0]!, ...argv.slice(1)];
    try {
      return this.run(body);
    } catch (err) {
      if (err instanceof Return) return err.status;
      throw err;
    } finally {
      this.positional = saved;
      this.depth--;
    }
  }

  private print(text: string): void {
    this.captures[this.captures.length - 1]?.push(text);
  }

  /** `$(…)`: its output, trailing newlines removed. */
  private substitute(source: string): string {
    let commands: Command[];
    try {
      commands = parseScript(source, 'a command substitution');
    } catch {
      this.unhandled.push(`$(${source})`);
      return '';
    }
    this.captures.push([]);
    try {
      this.subshell(true, () => this.list(commands));
    } finally {
      source = this.captures.pop()!.join('');
    }
    return source.replace(/\n+$/, '');
  }

  /** A word's fields after expansion and field splitting (no pathname expansion). */
  private expand(word: Word): string[] {
    const fields: string[] = [];
    let current = '';
    let started = false;
    for (const part of word) {
      const value = part.kind === 'text' ? part.text : part.kind === 'param' ? this.parameter(part) : this.substitute(part.source);
      if (part.quoted || part.kind === 'text') {
        current += value;
        started = true;
        continue;
      }
      const pieces = value.split(/[ \t\n]+/);
      for (const [index, piece] of pieces.entries()) {
        if (index > 0 && (started || current !== '')) {
          fields.push(current);
          current = '';
          started = false;
        }
        current += piece;
        if (piece !== '') started = true;
      }
    }
    if (started || current !== '') fields.push(current);
    const globbing = word.some((part) => part.kind === 'text' && !part.quoted && /[*?[]/.test(part.text));
    return globbing ? fields.flatMap((field) => this.pathnames(field)) : fields;
  }

  /**
   * Pathname expansion (XCU 2.13.3) of an absolute pattern whose wildcards are in its last
   * component; no match leaves the pattern as it is. Other patterns are not expanded.
   */
  private pathnames(pattern: string): string[] {
    if (!pattern.startsWith('/')) return [pattern];
    const slash = pattern.lastIndexOf('/');
    const dir = pattern.slice(0, slash) || '/';
    const last = pattern.slice(slash + 1);
    if (/[*?[]/.test(dir)) {
      this.unhandled.push(`(pathname expansion of ${pattern})`);
      return [pattern];
    }
    const regexp = globRegExp(last);
    const matches = this.host.list(dir).filter((name) => regexp.test(name) && (!name.startsWith('.') || last.startsWith('.')));
    return matches.length === 0 ? [pattern] : matches.map((name) => `${dir === '/' ? '' : dir}/${name}`);
  }

  private expandOne(word: Word): string {
    return word.map((part) => (part.kind === 'text' ? part.text : part.kind === 'param' ? this.parameter(part) : this.substitute(part.source))).join('');
  }

  /** A case pattern: quoted characters match themselves. */
  private expandPattern(word: Word): string {
    return word.map((part) => (part.kind === 'text' && !part.quoted ? part.text : escapeGlob(this.expandOne([part])))).join('');
  }

  private parameter(part: Extract<Word[number], { kind: 'param' }>): string {
    const value = this.lookup(part.name);
    const arg = () => (part.arg === undefined ? '' : this.expandOne(part.arg));
    switch (part.op) {
      case undefined:
        return value ?? '';
      case '#length':
        return String((value ?? '').length);
      case ':-':
      case ':?':
        return value ? value : arg();
      case '-':
      case '?':
        return value ?? arg();
      case ':+':
        return value ? arg() : '';
      case '+':
        return value !== undefined ? arg() : '';
      case ':=':
      case '=': {
        if (part.op === ':=' ? !value : value === undefined) this.vars.set(part.name, arg());
        return this.lookup(part.name) ?? '';
      }
      default:
        return trimPattern(value ?? '', part.op, this.expandPattern(part.arg ?? []));
    }
  }

  private lookup(name: string): string | undefined {
    if (/^[0-9]$/.test(name)) return this.positional[Number(name)];
    switch (name) {
      case '#':
        return String(this.positional.length - 1);
      case '@':
      case '*':
        return this.positional.slice(1).join(' ');
      case '?':
        return String(this.status);
      case '$':
        return '1';
      case '-':
      case '!':
        return '';
    }
    return this.vars.get(name);
  }
}

/** `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`: the shortest or longest match removed. */
function trimPattern(value: string, op: string, pattern: string): string {
  const regexp = globRegExp(pattern);
  const lengths = [...Array(value.length + 1).keys()];
  const order = op.length === 2 ? lengths.reverse() : lengths;
  for (const length of order) {
    if (op.startsWith('#') && regexp.test(value.slice(0, length))) return value.slice(length);
    if (op.startsWith('%') && regexp.test(value.slice(value.length - length))) return value.slice(0, value.length - length);
  }
  return value;
}

/** A shell pattern (`*`, `?`, `[…]`, backslash escapes) as an anchored regular expression. */
function globRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') source += escapeRegExp(pattern[++i] ?? '\\');
    else if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '[' && pattern.indexOf(']', i + 2) !== -1) {
      const end = pattern.indexOf(']', i + 2);
      const set = pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
      source += `[${set}]`;
      i = end;
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\\]/g, (c) => `\\${c}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** test(1) (XCU "test"), with `!`, `-a`, `-o` and parentheses. */
function evaluateTest(args: readonly string[], host: ScriptHost): boolean {
  let at = 0;
  const or = (): boolean => {
    let value = and();
    while (args[at] === '-o') {
      at++;
      value = and() || value;
    }
    return value;
  };
  const and = (): boolean => {
    let value = primary();
    while (args[at] === '-a') {
      at++;
      value = primary() && value;
    }
    return value;
  };
  const primary = (): boolean => {
    const first = args[at];
    if (first === '!' && at + 1 < args.length) {
      at++;
      return !primary();
    }
    if (first === '(' && args.length - at > 2) {
      at++;
      const value = or();
      at++; // ')'
      return value;
    }
    const second = args[at + 1];
    if (second !== undefined && BINARY.has(second) && at + 2 < args.length) {
      const right = args[at + 2]!;
      at += 3;
      return binary(first!, second, right);
    }
    if (first !== undefined && /^-[a-zA-Z]$/.test(first) && second !== undefined) {
      at += 2;
      if (first === '-z') return second === '';
      if (first === '-n') return second !== '';
      return host.fileTest(first, second);
    }
    at++;
    return (first ?? '') !== '';
  };
  return args.length === 0 ? false : or();
}

const BINARY = new Set(['=', '==', '!=', '-eq', '-ne', '-gt', '-ge', '-lt', '-le']);

function binary(left: string, op: string, right: string): boolean {
  if (op === '=' || op === '==') return left === right;
  if (op === '!=') return left !== right;
  const a = Number(left);
  const b = Number(right);
  return op === '-eq' ? a === b : op === '-ne' ? a !== b : op === '-gt' ? a > b : op === '-ge' ? a >= b : op === '-lt' ? a < b : a <= b;
}

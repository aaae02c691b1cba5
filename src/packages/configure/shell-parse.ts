/**
 * Parsing the POSIX shell (XCU 2, "Shell Command Language") that Debian maintainer scripts
 * are written in, far enough to follow what a postinst does: words with quoting and
 * parameter and command substitutions, simple commands with redirections, `&&`/`||`/`!`,
 * pipelines, `if`, `for`, `while`/`until`, `case`, groups, subshells and functions. Nothing
 * here runs anything (shell-run.ts does); constructs beyond this (arithmetic `$((…))`)
 * parse as a word part the runner cannot expand.
 */
import { InfraError } from '../../errors.js';

/** One piece of a word: literal text, `$name`/`${name…}`, or `$(…)`/`` `…` ``; `quoted` inside "…" or '…'. */
export type WordPart =
  | { kind: 'text'; text: string; quoted: boolean }
  | { kind: 'param'; name: string; op?: string; arg?: WordPart[]; quoted: boolean }
  | { kind: 'command'; source: string; quoted: boolean };

export type Word = WordPart[];

export interface Redirect {
  fd: number;
  op: '>' | '>>' | '<' | '>&' | '<&' | '<<' | '<<-' | '<>' | '>|';
  target: Word;
  /** A here-document's text; `literal` when it has no expansion to make (quoted delimiter, or no `$`, `` ` ``, `\`). */
  heredoc?: { text: string; literal: boolean };
}

export type Command =
  | { kind: 'simple'; assignments: Array<[string, Word]>; words: Word[]; redirects: Redirect[] }
  | { kind: 'and' | 'or'; left: Command; right: Command }
  | { kind: 'not'; command: Command }
  | { kind: 'pipe'; commands: Command[] }
  | { kind: 'if'; branches: Array<{ condition: Command[]; body: Command[] }>; otherwise: Command[] }
  | { kind: 'for'; name: string; items: Word[] | undefined; body: Command[] }
  | { kind: 'while' | 'until'; condition: Command[]; body: Command[] }
  | { kind: 'case'; subject: Word; arms: Array<{ patterns: Word[]; body: Command[] }> }
  | { kind: 'group'; body: Command[]; subshell: boolean; redirects: Redirect[] }
  | { kind: 'function'; name: string; body: Command };

type OpToken = { kind: 'op'; op: string; fd?: number; heredoc?: Redirect['heredoc'] };
type Token = { kind: 'word'; word: Word; raw: string } | OpToken | { kind: 'newline' };

/** A script longer than this is not a maintainer script. */
const MAX_SCRIPT_CHARS = 1024 * 1024;
const MAX_DEPTH = 64;
const OPERATORS = [';;', '&&', '||', '<<-', '<<', '>>', '>&', '<&', '<>', '>|', ';', '&', '|', '(', ')', '<', '>'];

export function parseScript(source: string, what: string): Command[] {
  if (source.length > MAX_SCRIPT_CHARS) throw syntax(what, 'it is larger than a maintainer script can be');
  return new Parser(new Lexer(source, what).tokens(), what).script();
}

class Lexer {
  private at = 0;
  private readonly out: Token[] = [];
  private readonly heredocs: Array<{ delimiter: string; stripTabs: boolean; quoted: boolean; token: OpToken }> = [];

  constructor(
    private readonly src: string,
    private readonly what: string,
  ) {}

  tokens(): Token[] {
    const { src } = this;
    while (this.at < src.length) {
      const c = src[this.at]!;
      if (c === ' ' || c === '\t') this.at++;
      else if (src.startsWith('\\\n', this.at)) this.at += 2;
      else if (c === '#') while (this.at < src.length && src[this.at] !== '\n') this.at++;
      else if (c === '\n') {
        this.at++;
        this.out.push({ kind: 'newline' });
        this.skipHeredocs();
      } else {
        const op = OPERATORS.find((o) => src.startsWith(o, this.at));
        if (op !== undefined) {
          this.at += op.length;
          const token: OpToken = { kind: 'op', op };
          this.out.push(token);
          if (op === '<<' || op === '<<-') this.heredocWord(token);
        } else this.word();
      }
    }
    return this.out;
  }

  /** A word; digits right before `<` or `>` are that redirection's file descriptor. */
  private word(): void {
    const start = this.at;
    const parts = this.parts('word');
    const raw = this.src.slice(start, this.at);
    const next = this.src[this.at];
    if (/^\d+$/.test(raw) && (next === '<' || next === '>')) {
      const op = OPERATORS.find((o) => this.src.startsWith(o, this.at))!;
      this.at += op.length;
      const token: OpToken = { kind: 'op', op, fd: Number(raw) };
      this.out.push(token);
      if (op === '<<' || op === '<<-') this.heredocWord(token);
      return;
    }
    this.out.push({ kind: 'word', word: parts, raw });
  }

  private heredocWord(token: OpToken): void {
    while (this.src[this.at] === ' ' || this.src[this.at] === '\t') this.at++;
    const start = this.at;
    const parts = this.parts('word');
    this.out.push({ kind: 'word', word: parts, raw: this.src.slice(start, this.at) });
    const delimiter = parts.map((p) => (p.kind === 'text' ? p.text : '')).join('');
    this.heredocs.push({ delimiter, stripTabs: token.op === '<<-', quoted: parts.some((p) => p.quoted), token });
  }

  /** A here-document's lines are not shell; they end at the delimiter line. */
  private skipHeredocs(): void {
    for (const { delimiter, stripTabs, quoted, token } of this.heredocs.splice(0)) {
      const lines: string[] = [];
      for (;;) {
        if (this.at >= this.src.length) throw syntax(this.what, `the here-document ending "${delimiter}" does not end`);
        const end = this.src.indexOf('\n', this.at);
        const line = this.src.slice(this.at, end === -1 ? undefined : end);
        this.at = end === -1 ? this.src.length : end + 1;
        const text = stripTabs ? line.replace(/^\t+/, '') : line;
        if (text === delimiter) break;
        lines.push(text);
      }
      const text = lines.map((line) => `${line}\n`).join('');
      token.heredoc = { text, literal: quoted || !/[$`\\]/.test(text) };
    }
  }

  /**
   * Word parts up to an unquoted blank or operator (`word`), the closing quote (`double`),
   * or the end of the text (`param`: the word of a `${name…word}`).
   */
  private parts(mode: 'word' | 'double' | 'param'): WordPart[] {
    const { src } = this;
    const inDouble = mode === 'double';
    const parts: WordPart[] = [];
    let text = '';
    const flush = () => {
      if (text !== '') parts.push({ kind: 'text', text, quoted: inDouble });
      text = '';
    };
    while (this.at < src.length) {
      const c = src[this.at]!;
      if (inDouble ? c === '"' : mode === 'word' && /[\s;&|()<>]/.test(c)) break;
      if (c === '\\') {
        const next = src[this.at + 1] ?? '';
        this.at += 2;
        if (next === '\n') continue;
        if (inDouble && !'$`"\\'.includes(next)) text += '\\';
        flush();
        parts.push({ kind: 'text', text: next, quoted: true });
      } else if (c === "'" && !inDouble) {
        const end = src.indexOf("'", this.at + 1);
        if (end === -1) throw syntax(this.what, 'a single quote is not closed');
        flush();
        parts.push({ kind: 'text', text: src.slice(this.at + 1, end), quoted: true });
        this.at = end + 1;
      } else if (c === '"' && !inDouble) {
        flush();
        this.at++;
        const inner = this.parts('double');
        if (src[this.at] !== '"') throw syntax(this.what, 'a double quote is not closed');
        this.at++;
        parts.push(...(inner.length > 0 ? inner : [{ kind: 'text' as const, text: '', quoted: true }]));
      } else if (c === '`') {
        const end = src.indexOf('`', this.at + 1);
        if (end === -1) throw syntax(this.what, 'a backquote is not closed');
        flush();
        parts.push({ kind: 'command', source: src.slice(this.at + 1, end), quoted: inDouble });
        this.at = end + 1;
      } else if (c === '$' && this.dollar(parts, flush, inDouble)) {
        continue;
      } else {
        text += c;
        this.at++;
      }
    }
    flush();
    return parts;
  }

  /** A `$` expansion at `at`; false when the `$` is literal. */
  private dollar(parts: WordPart[], flush: () => void, quoted: boolean): boolean {
    const { src } = this;
    const next = src[this.at + 1] ?? '';
    if (next === '(') {
      const end = this.closing(this.at + 1, '(', ')');
      flush();
      parts.push({ kind: 'command', source: src.slice(this.at + 2, end), quoted });
      this.at = end + 1;
      return true;
    }
    if (next === '{') {
      const end = this.closing(this.at + 1, '{', '}');
      const body = src.slice(this.at + 2, end);
      const match = /^(#?)([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])(:?[-+=?]|##?|%%?)?([\s\S]*)$/.exec(body);
      if (match === null) throw syntax(this.what, `"\${${body}}" is not a parameter expansion`);
      flush();
      const [, length, name, op, arg] = match;
      const argParts = op === undefined ? undefined : new Lexer(arg!, this.what).parts(quoted ? 'double' : 'param');
      parts.push({ kind: 'param', name: name!, ...(length ? { op: '#length' } : op ? { op, arg: argParts! } : {}), quoted });
      this.at = end + 1;
      return true;
    }
    const name = /^([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(src.slice(this.at + 1, this.at + 65))?.[1];
    if (name === undefined) return false;
    flush();
    parts.push({ kind: 'param', name, quoted });
    this.at += 1 + name.length;
    return true;
  }

  /** The index of the bracket that closes the one at `open`, skipping quoted text. */
  private closing(open: number, left: string, right: string): number {
    let depth = 0;
    for (let i = open; i < this.src.length; i++) {
      const c = this.src[i];
      if (c === '\\') i++;
      else if (c === "'") {
        i = this.src.indexOf("'", i + 1);
        if (i === -1) break;
      } else if (c === left) depth++;
      else if (c === right && --depth === 0) return i;
    }
    throw syntax(this.what, `a "${left}" is not closed`);
  }
}

class Parser {
  private at = 0;
  private depth = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly what: string,
  ) {}

  script(): Command[] {
    const commands = this.list();
    if (this.at < this.tokens.length) throw syntax(this.what, `unexpected "${this.describe(this.tokens[this.at]!)}"`);
    return commands;
  }

  /** Commands up to a closing reserved word, `)`, `;;` or the end. */
  private list(): Command[] {
    if (++this.depth > MAX_DEPTH) throw syntax(this.what, 'it nests too deeply');
    const commands: Command[] = [];
    for (;;) {
      this.skipNewlines();
      const token = this.tokens[this.at];
      if (token === undefined || this.closes(token)) break;
      commands.push(this.andOr());
      const separator = this.tokens[this.at];
      if (separator?.kind === 'op' && (separator.op === ';' || separator.op === '&')) this.at++;
    }
    this.depth--;
    return commands;
  }

  private closes(token: Token): boolean {
    if (token.kind === 'op') return token.op === ')' || token.op === ';;';
    return token.kind === 'word' && ['then', 'elif', 'else', 'fi', 'do', 'done', 'esac', '}'].includes(token.raw);
  }

  private andOr(): Command {
    let left = this.pipeline();
    for (;;) {
      const token = this.tokens[this.at];
      if (token?.kind !== 'op' || (token.op !== '&&' && token.op !== '||')) return left;
      this.at++;
      this.skipNewlines();
      left = { kind: token.op === '&&' ? 'and' : 'or', left, right: this.pipeline() };
    }
  }

  private pipeline(): Command {
    const negated = this.reserved('!');
    const commands = [this.command()];
    while (this.isOp('|')) {
      this.at++;
      this.skipNewlines();
      commands.push(this.command());
    }
    const command: Command = commands.length === 1 ? commands[0]! : { kind: 'pipe', commands };
    return negated ? { kind: 'not', command } : command;
  }

  private command(): Command {
    const token = this.tokens[this.at];
    if (token === undefined) throw syntax(this.what, 'it ends in the middle of a command');
    if (token.kind === 'op' && token.op === '(') {
      this.at++;
      const body = this.list();
      this.expectOp(')');
      return { kind: 'group', body, subshell: true, redirects: this.redirects() };
    }
    if (token.kind === 'op' && isRedirect(token.op)) return this.simple();
    if (token.kind !== 'word') throw syntax(this.what, `unexpected "${this.describe(token)}"`);
    switch (token.raw) {
      case 'if':
        return this.ifCommand();
      case 'for':
        return this.forCommand();
      case 'while':
      case 'until': {
        this.at++;
        const condition = this.list();
        return { kind: token.raw, condition, body: this.doGroup() };
      }
      case 'case':
        return this.caseCommand();
      case '{': {
        this.at++;
        const body = this.list();
        this.expectWord('}');
        return { kind: 'group', body, subshell: false, redirects: this.redirects() };
      }
    }
    const next = this.tokens[this.at + 1];
    const after = this.tokens[this.at + 2];
    if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(token.raw) && next?.kind === 'op' && next.op === '(' && after?.kind === 'op' && after.op === ')') {
      this.at += 3;
      this.skipNewlines();
      return { kind: 'function', name: token.raw, body: this.command() };
    }
    return this.simple();
  }

  private simple(): Command {
    const assignments: Array<[string, Word]> = [];
    const words: Word[] = [];
    const redirects: Redirect[] = [];
    for (;;) {
      const token = this.tokens[this.at];
      if (token?.kind === 'op' && isRedirect(token.op)) {
        redirects.push(this.redirect());
      } else if (token?.kind === 'word') {
        const assignment = words.length === 0 ? /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(token.raw) : null;
        if (assignment !== null) assignments.push([assignment[1]!, dropPrefix(token.word, assignment[0].length)]);
        else words.push(token.word);
        this.at++;
      } else break;
    }
    if (words.length === 0 && assignments.length === 0 && redirects.length === 0) {
      throw syntax(this.what, `unexpected "${this.describe(this.tokens[this.at] ?? { kind: 'newline' })}"`);
    }
    return { kind: 'simple', assignments, words, redirects };
  }

  private ifCommand(): Command {
    const branches: Array<{ condition: Command[]; body: Command[] }> = [];
    let otherwise: Command[] = [];
    this.at++;
    for (;;) {
      const condition = this.list();
      this.expectWord('then');
      branches.push({ condition, body: this.list() });
      if (this.reserved('elif')) continue;
      if (this.reserved('else')) otherwise = this.list();
      this.expectWord('fi');
      return { kind: 'if', branches, otherwise };
    }
  }

  private forCommand(): Command {
    this.at++;
    const name = this.tokens[this.at];
    if (name?.kind !== 'word') throw syntax(this.what, '"for" has no variable name');
    this.at++;
    this.skipNewlines();
    let items: Word[] | undefined;
    if (this.reserved('in')) {
      items = [];
      for (let token = this.tokens[this.at]; token?.kind === 'word'; token = this.tokens[++this.at]) items.push(token.word);
    }
    if (this.isOp(';')) this.at++;
    return { kind: 'for', name: name.raw, items, body: this.doGroup() };
  }

  private caseCommand(): Command {
    this.at++;
    const subject = this.tokens[this.at];
    if (subject?.kind !== 'word') throw syntax(this.what, '"case" has no word');
    this.at++;
    this.skipNewlines();
    this.expectWord('in');
    const arms: Array<{ patterns: Word[]; body: Command[] }> = [];
    for (;;) {
      this.skipNewlines();
      if (this.reserved('esac')) return { kind: 'case', subject: subject.word, arms };
      if (this.isOp('(')) this.at++;
      const patterns: Word[] = [];
      for (;;) {
        const token = this.tokens[this.at++];
        if (token?.kind !== 'word') throw syntax(this.what, 'a "case" pattern is missing');
        patterns.push(token.word);
        if (!this.isOp('|')) break;
        this.at++;
      }
      this.expectOp(')');
      const body = this.list();
      if (this.isOp(';;')) this.at++;
      arms.push({ patterns, body });
    }
  }

  private doGroup(): Command[] {
    this.skipNewlines();
    this.expectWord('do');
    const body = this.list();
    this.expectWord('done');
    this.redirects();
    return body;
  }

  private redirects(): Redirect[] {
    const redirects: Redirect[] = [];
    for (let token = this.tokens[this.at]; token?.kind === 'op' && isRedirect(token.op); token = this.tokens[this.at]) redirects.push(this.redirect());
    return redirects;
  }

  private redirect(): Redirect {
    const token = this.tokens[this.at++] as OpToken & { op: Redirect['op'] };
    const target = this.tokens[this.at++];
    if (target?.kind !== 'word') throw syntax(this.what, `"${token.op}" has no target`);
    return { fd: token.fd ?? (token.op.startsWith('<') ? 0 : 1), op: token.op, target: target.word, ...(token.heredoc ? { heredoc: token.heredoc } : {}) };
  }

  private reserved(word: string): boolean {
    const token = this.tokens[this.at];
    if (token?.kind !== 'word' || token.raw !== word) return false;
    this.at++;
    return true;
  }

  private isOp(op: string): boolean {
    const token = this.tokens[this.at];
    return token?.kind === 'op' && token.op === op;
  }

  private expectWord(word: string): void {
    if (!this.reserved(word)) throw syntax(this.what, `"${word}" expected, found "${this.describe(this.tokens[this.at])}"`);
  }

  private expectOp(op: string): void {
    if (!this.isOp(op)) throw syntax(this.what, `"${op}" expected, found "${this.describe(this.tokens[this.at])}"`);
    this.at++;
  }

  private skipNewlines(): void {
    while (this.tokens[this.at]?.kind === 'newline') this.at++;
  }

  private describe(token: Token | undefined): string {
    if (token === undefined) return 'the end';
    return token.kind === 'word' ? token.raw.slice(0, 40) : token.kind === 'op' ? token.op : 'a new line';
  }
}

function isRedirect(op: string): boolean {
  return ['>', '>>', '<', '>&', '<&', '<<', '<<-', '<>', '>|'].includes(op);
}

/** A word without its first `count` characters (the `NAME=` of an assignment, always literal). */
function dropPrefix(word: Word, count: number): Word {
  const rest: Word = [];
  let left = count;
  for (const part of word) {
    if (left === 0 || part.kind !== 'text') rest.push(part);
    else if (part.text.length <= left) left -= part.text.length;
    else {
      rest.push({ ...part, text: part.text.slice(left) });
      left = 0;
    }
  }
  return rest;
}

function syntax(what: string, detail: string): InfraError {
  return new InfraError('PACKAGE', `${what} cannot be read as a shell script (${detail}); leave the package out, or configure it in a VM`);
}

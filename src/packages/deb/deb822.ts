/**
 * The control-file syntax of Release, Packages, status and `.sources` files (Debian Policy
 * §5.1; deb822(5)): paragraphs separated by blank lines, `Name: value` fields, continuation
 * lines starting with a space or tab. Values keep their continuation lines as written
 * (leading whitespace included) joined with '\n', so a stanza can be written back byte
 * for byte; field names are matched case-insensitively, as the policy says.
 */
import { InfraError } from '../../errors.js';
import type { DebStanza } from './types.js';

export type Paragraph = ReadonlyMap<string, string>;

/** An index with more paragraphs than this is not a Debian repository's. */
const MAX_PARAGRAPHS = 1_000_000;

/** Splits deb822 text into paragraphs. `comments`: `#` lines are allowed (sources files). */
export function parseParagraphs(text: string, what: string, comments = false): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let fields = new Map<string, string>();
  let last: string | undefined;
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.endsWith('\r') ? lines[n]!.slice(0, -1) : lines[n]!;
    if (comments && line.startsWith('#')) continue;
    if (line.trim() === '') {
      if (fields.size > 0) paragraphs.push(fields);
      if (paragraphs.length > MAX_PARAGRAPHS) throw malformed(what, n, `more than ${MAX_PARAGRAPHS} paragraphs`);
      fields = new Map();
      last = undefined;
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last === undefined) throw malformed(what, n, 'a continuation line with no field before it');
      fields.set(last, `${fields.get(last)}\n${line}`);
    } else {
      const colon = line.indexOf(':');
      if (colon <= 0) throw malformed(what, n, `"${line.slice(0, 60)}" is not a "Field: value" line`);
      last = line.slice(0, colon);
      if (fields.has(last)) throw malformed(what, n, `the field ${last} appears twice in one paragraph`);
      fields.set(last, line.slice(colon + 1).trim());
    }
  }
  if (fields.size > 0) paragraphs.push(fields);
  return paragraphs;
}

/** A field's value by case-insensitive name. */
export function field(paragraph: Paragraph, name: string): string | undefined {
  const exact = paragraph.get(name);
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const [key, value] of paragraph) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** A multi-line field's lines, trimmed, blank ones dropped (`SHA256`, `Signed-By` paths). */
export function fieldLines(paragraph: Paragraph, name: string): string[] {
  return (field(paragraph, name) ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** A binary package stanza; paragraphs without Package, Version and Architecture are refused. */
export function toStanza(paragraph: Paragraph, what: string): DebStanza {
  const name = field(paragraph, 'Package');
  const version = field(paragraph, 'Version');
  const architecture = field(paragraph, 'Architecture');
  if (!name || !version || !architecture) {
    throw new InfraError('INPUT', `${what} has a stanza without Package, Version or Architecture (${name ?? 'unnamed'}); the repository index is damaged`);
  }
  return { fields: paragraph, package: name, version, architecture };
}

function malformed(what: string, line: number, detail: string): InfraError {
  return new InfraError('INPUT', `${what} is not a valid control file at line ${line + 1}: ${detail}; the file is damaged`);
}

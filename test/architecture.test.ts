/**
 * The dependency direction of docs/architecture.md, enforced (as go-containerregistry's
 * depcheck does): every import between folders of src/ is one the table allows, no files
 * import each other round a loop (type-only imports included), and every folder is declared.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO } from './helpers/env.js';

const SRC = join(REPO, 'src');

/** folder → the folders it may import, from the table in docs/architecture.md. */
function declaredDirection(): Map<string, Set<string>> {
  const doc = readFileSync(join(REPO, 'docs/architecture.md'), 'utf8');
  const rows = new Map<string, Set<string>>();
  for (const line of doc.split('\n')) {
    const m = /^\| `([a-z0-9-]+)` \|[^|]*\|([^|]*)\|$/.exec(line.trim());
    if (m) rows.set(m[1]!, new Set([...m[2]!.matchAll(/`([a-z0-9-]+)`/g)].map((x) => x[1]!)));
  }
  return rows;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Top-level files that are modules of their own; the other top-level files are entry points. */
const TOP_LEVEL_MODULES = new Set(['errors', 'events', 'version']);

/** The folder a file belongs to: `src/ext4/writer.ts` → ext4, `src/errors.ts` → errors, `src/s3.ts` → index. */
function folderOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  if (parts.length > 1) return parts[0]!;
  const name = parts[0]!.replace(/\.ts$/, '');
  return TOP_LEVEL_MODULES.has(name) ? name : 'index';
}

/** Relative imports of a file (static, re-exports, side-effect, type-only and dynamic), resolved to .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/g),
    ...text.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g),
    ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
  ].map((m) => m[1]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const direction = declaredDirection();
const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const show = (f: string) => relative(REPO, f);

t.test('docs/architecture.md declares every folder of src/, and its direction has no loop', async (t) => {
  t.ok(direction.size >= 10, `the table is read (${direction.size} folders)`);
  const folders = new Set(files.map(folderOf));
  t.same([...folders].filter((f) => !direction.has(f)).sort(), [], 'every folder has a row');
  t.same([...direction.keys()].filter((f) => !folders.has(f)).sort(), [], 'every row is a folder');
  const declared = new Map([...direction].map(([folder, allowed]) => [folder, [...allowed]]));
  t.same(cycles(declared), [], 'the declared folder graph is acyclic');
});

t.test('every import between folders is one the table allows', async (t) => {
  const violations: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from !== to && !direction.get(from)?.has(to)) violations.push(`${show(file)} imports ${show(target)} (${from} → ${to})`);
    }
  }
  t.same(violations, [], 'no import against the direction');
});

t.test('no import cycle between files (type-only imports included)', async (t) => {
  t.same(cycles(graph).map((c) => c.map(show)), [], 'no file reaches itself through its imports');
});

t.test('the checker sees what it checks', async (t) => {
  const missing = [...graph.values()].flat().filter((target) => !graph.has(target));
  t.same(missing.map(show), [], 'every relative import resolves to a source file');
  t.same(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']], 'a loop of three is found');
  t.same(cycles(new Map([['a', ['a']]])), [['a']], 'a file importing itself is found');
  t.ok(importsOf(join(SRC, 'index.ts')).length > 5, 'imports are read');
});

/**
 * Control-file syntax (deb822) and relationship fields as the repository side reads them:
 * values kept as written, case-insensitive names, and malformed input refused.
 */
import t from 'tap';
import { field, parseParagraphs, toStanza } from '../../src/packages/deb/deb822.js';
import { formatRef, parseRelations } from '../../src/packages/deb/relations.js';

t.test('paragraphs keep continuation lines as written', async (t) => {
  const text = 'Package: a\r\nVersion: 1.0\nArchitecture: all\nDescription: short\n  long line\n .\n\n\nPackage: b\nVersion: 2\narchitecture: amd64\n';
  const [a, b] = parseParagraphs(text, 'Packages');
  t.equal(a!.get('Description'), 'short\n  long line\n .', 'continuation lines with their leading whitespace, CR dropped');
  t.equal(field(b!, 'Architecture'), 'amd64', 'names match case-insensitively');
  t.same(toStanza(b!, 'Packages'), { fields: b, package: 'b', version: '2', architecture: 'amd64' });
  t.throws(() => parseParagraphs('Package: a\nPackage: b\n', 'Packages'), { code: 'INPUT', message: /the field Package appears twice/ });
  t.throws(() => parseParagraphs(' continuation first\n', 'Packages'), { message: /continuation line with no field/ });
  t.throws(() => parseParagraphs('no colon here\n', 'Packages'), { message: /line 1: "no colon here" is not a "Field: value" line/ });
  t.throws(() => toStanza(new Map([['Package', 'x']]), 'Packages'), { message: /without Package, Version or Architecture/ });
  t.same(parseParagraphs('# comment\nTypes: deb\n', 'x.sources', true), [new Map([['Types', 'deb']])], 'comments in sources files');
});

t.test('relationship fields', async (t) => {
  const parsed = parseRelations('libc6 (>= 2.36), python3:any (<< 3.12) | python3.11 , dpkg (> 1.0),  foo:amd64', 'x');
  t.same(parsed, [
    [{ name: 'libc6', op: '>=', version: '2.36' }],
    [{ name: 'python3', archQualifier: 'any', op: '<<', version: '3.12' }, { name: 'python3.11' }],
    [{ name: 'dpkg', op: '>=', version: '1.0' }],
    [{ name: 'foo', archQualifier: 'amd64' }],
  ], 'alternatives, qualifiers, and the obsolete > read as >=');
  t.equal(formatRef(parsed[1]![0]!), 'python3:any (<< 3.12)');
  t.same(parseRelations(undefined, 'x'), []);
  t.throws(() => parseRelations('foo [amd64]', 'x'), { code: 'INPUT', message: /"foo \[amd64\]" is not a package relation/ }, 'architecture restrictions belong to source packages');
  t.throws(() => parseRelations('foo <!nocheck>', 'x'), { code: 'INPUT' }, 'build profiles too');
});

/**
 * The applier's and flatten's limits against hostile layers: hard links beyond the link
 * count an inode can have, and more tar members than a build reads.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { fileLayer } from '../../src/image/layer.js';
import type { Image } from '../../src/image/types.js';
import { applyLayer } from '../../src/layers/apply.js';
import { DEFAULT_MAX_ENTRIES, flatten } from '../../src/layers/flatten.js';
import { makeRoot } from '../../src/tree/tree.js';
import { tempDir } from '../helpers/env.js';
import { MemorySink } from '../helpers/memory-sink.js';
import { file, hardlink, layer, lookup, namesOf, symlink } from '../helpers/members.js';
import { OCI, sha256 } from '../helpers/oci-build.js';
import { buildLayer, type LayerEntry } from '../helpers/tar-build.js';

const EXT4_LINK_MAX = 65000;
const T0 = { sec: 0, nsec: 0 };

function links(target: string, count: number, prefix = 'l'): ReturnType<typeof hardlink>[] {
  return Array.from({ length: count }, (_, i) => hardlink(`${prefix}${i}`, target));
}

t.test('65,000 names for one file apply; the 65,001st is refused, naming the file and the limit', async (t) => {
  const root = makeRoot(T0);
  const sink = new MemorySink();
  await applyLayer(root, layer(file('f', 'x'), ...links('f', EXT4_LINK_MAX - 1)), sink, { whiteouts: true, maxLinks: EXT4_LINK_MAX });
  t.equal(namesOf(root, lookup(root, 'f')!), EXT4_LINK_MAX, 'at the limit');
  await t.rejects(
    applyLayer(makeRoot(T0), layer(file('f', 'x'), ...links('f', EXT4_LINK_MAX)), new MemorySink(), { whiteouts: true, maxLinks: EXT4_LINK_MAX }),
    { code: 'LAYER', message: 'hard link "l64999" gives "f" 65001 names, over the file system\'s limit of 65000 links per inode; rebuild the layer with fewer hard links to it' },
  );
});

t.test('names are counted across layers and for symlinks, and a replaced name no longer counts', async (t) => {
  const root = makeRoot(T0);
  const options = { whiteouts: true, maxLinks: 3 };
  await applyLayer(root, layer(symlink('s', '/etc'), hardlink('a', 's'), hardlink('b', 's')), new MemorySink(), options);
  // A later layer: `a` becomes a file (one name gone), so one more link fits.
  await applyLayer(root, layer(file('a', 'new'), hardlink('c', 's')), new MemorySink(), options);
  t.equal(namesOf(root, lookup(root, 's')!), 3);
  await t.rejects(applyLayer(root, layer(hardlink('d', 's')), new MemorySink(), options), {
    code: 'LAYER',
    message: /^hard link "d" gives "s" 4 names, over the file system's limit of 3 links/,
  });
});

function imageOf(dir: string, layers: LayerEntry[][]): Image {
  return {
    reference: 'test:limits',
    digest: sha256(JSON.stringify(layers)),
    config: { env: [], entrypoint: [], cmd: [], workingDir: '', user: '' },
    layers: layers.map((entries, index) => {
      const path = join(dir, `layer${index}.tar.gz`);
      writeFileSync(path, gzipSync(buildLayer(entries)));
      const data = readFileSync(path);
      return fileLayer({ index, digest: sha256(data), size: data.length, mediaType: OCI.layerGzip, file: path });
    }),
    whiteouts: true,
  };
}

t.test('members over all layers beyond maxEntries are refused, naming the limit', async (t) => {
  const dir = tempDir(t);
  const six = (layerIndex: number): LayerEntry[] => Array.from({ length: 6 }, (_, i) => ({ path: `l${layerIndex}/f${i}`, data: '' }));
  const image = imageOf(dir, [six(0), six(1)]);
  await t.rejects(flatten(image, new MemorySink(), { maxEntries: 11 }), {
    code: 'SIZE',
    message: /^layer 2\/2 \(sha256:[0-9a-f]{64}\): the layers hold more than 11 entries \(files, directories, links, whiteouts\), the most one build reads/,
  });
  const within = await flatten(image, new MemorySink(), { maxEntries: 12 });
  t.equal(within.stats.entries, 12, 'exactly the limit applies');
  t.ok(DEFAULT_MAX_ENTRIES >= 1_000_000, `the default (${DEFAULT_MAX_ENTRIES}) admits a million entries`);
});

t.test('the byte budget names what to do, with the option as a placeholder the CLI words', async (t) => {
  const dir = tempDir(t);
  const image = imageOf(dir, [[{ path: 'big', data: Buffer.alloc(64 * 1024) }]]);
  const err = await flatten(image, new MemorySink(), { maxBytes: 10_000, maxBytesHint: 'free some space in {output}' }).catch((e: unknown) => e);
  t.match(err, {
    code: 'SIZE',
    hint: 'free some space in {output}',
    message: /^layer 1\/1 \(sha256:[0-9a-f]{64}\): the layers expand to more than 10000 bytes uncompressed: free some space in the output option$/,
  });
});

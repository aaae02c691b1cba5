// The writer alone, as `mke2fs -d` is: a tarball read by our tar reader, applied into the
// tree and written as ext4 (no digests, no sidecar). Usage: node write-tar.js TAR OUT MIB
import { statSync } from 'node:fs';
import { Ext4Writer } from '../dist/ext4/writer.js';
import { readFileRange } from '../dist/image/layer.js';
import { applyLayer } from '../dist/layers/apply.js';
import { readTar } from '../dist/tar/reader.js';
import { makeRoot } from '../dist/tree/tree.js';

const [tar, out, mib] = process.argv.slice(2);
const time = { sec: 0, nsec: 0 };
const writer = await Ext4Writer.create(out, { size: Number(mib), contentKey: tar, time });
const root = makeRoot(time);
await applyLayer(root, readTar(readFileRange(tar, 0, statSync(tar).size, true)), writer, { whiteouts: false });
await writer.finish(root);

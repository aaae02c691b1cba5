/**
 * zstd layers as real tools write them (skopeo's zstd compression, the zstd CLI with and
 * without a checksum, several frames, skippable frames), read through the recycling file
 * reader: each gives the same tree as the gzip layer of the same tar. The suite runs with
 * INFRA_OPERATOR_POISON_RECYCLED=1, so a view kept past its chunk's lifetime fails here.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openImage } from '../../src/image/index.js';
import { readFileRange } from '../../src/image/layer.js';
import { flatten } from '../../src/layers/flatten.js';
import { walk, type DataSink, type DirInode, type FileContent } from '../../src/tree/tree.js';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { debianMinbaseDir } from '../helpers/boot.js';
import { drain, LayoutWriter, tarDirectory } from '../helpers/oci-build.js';

interface HashedContent extends FileContent {
  readonly sha256: string;
}

/** Keeps each file's sha256 only: large trees compare without holding their bytes. */
class HashSink implements DataSink {
  async writeFile(body: AsyncIterable<Buffer>, size: number): Promise<FileContent> {
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk);
    return { size, sha256: hash.digest('hex') } as HashedContent;
  }
  async writeBuffer(data: Buffer): Promise<FileContent> {
    return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') } as HashedContent;
  }
  release(): void {}
}

/** One line per entry: everything the tree says about it, content by hash. */
function fingerprint(root: DirInode): string[] {
  const lines: string[] = [];
  walk(root, (path, inode) => {
    const xattrs = [...inode.xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
    const what =
      inode.kind === 'file' ? (inode.content as HashedContent).sha256 : inode.kind === 'symlink' ? inode.target : inode.kind === 'dir' ? '' : 'major' in inode ? `${inode.major}:${inode.minor}` : '';
    lines.push(`${path} ${inode.kind} ${inode.mode.toString(8)} ${inode.uid}:${inode.gid} ${inode.mtime.sec}.${inode.mtime.nsec} ${xattrs} ${what}`);
  });
  return lines;
}

async function treeOf(layout: string): Promise<string[]> {
  const { root } = await flatten(await openImage(`oci:${layout}`), new HashSink());
  return fingerprint(root);
}

/** An OCI layout holding one image whose only layer is `layerFile`. */
function layoutOf(dir: string, layerFile: string): string {
  const writer = new LayoutWriter(dir);
  writer.tagImage(writer.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [layerFile] }), 'latest');
  return dir;
}

function zstd(args: string[], input: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 30, timeout: 120_000 });
}

/** skopeo re-compresses every layer of `from` as one zstd frame with a checksum. */
function skopeoZstd(from: string, to: string): string {
  execFileSync('skopeo', ['copy', '--quiet', '--insecure-policy', '--dest-compress', '--dest-compress-format', 'zstd', `oci:${from}:latest`, `oci:${to}:latest`], { timeout: 300_000 });
  return to;
}

function zstdLayerMediaType(layout: string): string {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(readFileSync(join(layout, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ mediaType: string }> };
  return manifest.layers[0]!.mediaType;
}

/** A skippable frame (RFC 8878 §3.1.2) with magic 0x184D2A5n and `payload`. */
function skippable(n: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(0x184d2a50 + n, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

t.test('the Alpine tree from zstd layers of every kind equals the gzip layer', async (t) => {
  if (!prerequisites(t, { tools: ['zstd', 'skopeo'], files: [ALPINE_X86] })) return;
  const scratch = tempDir(t);
  const tar = gunzipSync(readFileSync(ALPINE_X86));
  const gzipLayout = layoutOf(join(scratch, 'gzip'), ALPINE_X86);
  const expected = await treeOf(gzipLayout);
  t.ok(expected.length > 500, `the gzip layer gives the Alpine tree (${expected.length} entries)`);

  const thirds = [0, 700_001, 2_000_003, tar.length];
  const variants: Record<string, Buffer> = {
    'zstd CLI with --check': zstd(['-3', '--check'], tar),
    'zstd CLI with --no-check': zstd(['-3', '--no-check'], tar),
    'small blocks (zstd -1 --check, 4 KiB target blocks)': zstd(['-1', '--check', '--zstd=targetLength=4096'], tar),
    'three frames, skippable frames before, between and after': Buffer.concat([
      skippable(0, Buffer.from('pzstd-like')),
      ...thirds.slice(1).map((end, i) => Buffer.concat([zstd(['-3', i === 1 ? '--no-check' : '--check'], tar.subarray(thirds[i], end)), skippable(15, randomBytes(i * 1000))])),
    ]),
  };
  for (const [name, blob] of Object.entries(variants)) {
    const file = join(scratch, `${name.replace(/\W+/g, '-')}.tar.zst`);
    writeFileSync(file, blob);
    t.same(await treeOf(layoutOf(join(scratch, `layout-${name.replace(/\W+/g, '-')}`), file)), expected, name);
  }
  const skopeo = skopeoZstd(gzipLayout, join(scratch, 'skopeo'));
  t.equal(zstdLayerMediaType(skopeo), 'application/vnd.oci.image.layer.v1.tar+zstd', 'skopeo wrote a zstd layer');
  t.same(await treeOf(skopeo), expected, 'skopeo copy --dest-compress-format zstd');
});

/** Where the descriptor's memory holds once the 32-buffer ring of 1 MiB chunks comes round. */
const RING_REUSE_OFFSET = 32 * (1 << 20) + 4;

t.test('production chunking: a 40 MiB zstd frame with its checksum past the 32-chunk ring', async (t) => {
  if (!prerequisites(t, { tools: ['zstd', 'tar'] })) return;
  const scratch = tempDir(t);
  mkdirSync(join(scratch, 'tree'));
  const tar = join(scratch, 'big.tar');
  // The frame descriptor is byte 4 of chunk 0; chunk 32 reuses that memory. Retry the
  // random content until byte 4 of chunk 32 has Content_Checksum_flag clear, so that a
  // reader that kept the view deterministically takes the checksum for a new frame.
  let blob: Buffer = Buffer.alloc(0);
  for (let attempt = 0; attempt < 30 && !(blob.length > RING_REUSE_OFFSET && (blob[RING_REUSE_OFFSET]! & 0x04) === 0); attempt++) {
    writeFileSync(join(scratch, 'tree', 'random'), randomBytes(40 << 20));
    blob = zstd(['-1', '--check'], readFileSync(tarDirectory(join(scratch, 'tree'), tar)));
  }
  t.equal(blob[4]! & 0x04, 0x04, 'the frame has a content checksum');
  t.equal(blob[RING_REUSE_OFFSET]! & 0x04, 0, 'the reused byte reads as "no checksum"');
  writeFileSync(`${tar}.zst`, blob);
  const image = await openImage(`oci:${layoutOf(join(scratch, 'layout'), `${tar}.zst`)}`);
  // The real ring (1 MiB chunks reused 32 reads later), as users run it.
  const poison = process.env.INFRA_OPERATOR_POISON_RECYCLED;
  delete process.env.INFRA_OPERATOR_POISON_RECYCLED;
  t.teardown(() => {
    if (poison !== undefined) process.env.INFRA_OPERATOR_POISON_RECYCLED = poison;
  });
  const read = await drain(image.layers[0]!.open());
  t.equal(read.digest, image.layers[0]!.diffId, 'the whole frame decodes and matches its DiffID');
});

t.test('the debootstrap minbase image, re-compressed by skopeo as one zstd frame, equals its gzip form', async (t) => {
  if (!prerequisites(t, { tools: ['zstd', 'skopeo', 'tar', 'gzip', 'debootstrap'] })) return;
  const scratch = tempDir(t);
  const tar = join(scratch, 'debian.tar');
  execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-cf', tar, '-C', debianMinbaseDir(), '.'], { timeout: 300_000 });
  execFileSync('gzip', ['-1', tar], { timeout: 300_000 });
  const gzipLayout = layoutOf(join(scratch, 'gzip'), `${tar}.gz`);
  const skopeo = skopeoZstd(gzipLayout, join(scratch, 'zstd'));
  const expected = await treeOf(gzipLayout);
  t.ok(expected.length > 3000, `the gzip layer gives the Debian tree (${expected.length} entries)`);
  t.same(await treeOf(skopeo), expected, 'the zstd layer gives the same tree');
});

t.test('the poisoning reader: a chunk kept past the next read turns to 0xdb', async (t) => {
  t.equal(process.env.INFRA_OPERATOR_POISON_RECYCLED, '1', 'the suite runs with poisoning (npm test sets it)');
  const scratch = tempDir(t);
  const file = join(scratch, 'data');
  writeFileSync(file, randomBytes(100_000));
  const kept: Buffer[] = [];
  const copies: Buffer[] = [];
  for await (const chunk of readFileRange(file, 0, 100_000, true)) {
    if (kept.length > 0) t.ok(kept.at(-1)!.every((byte) => byte === 0xdb), `chunk ${kept.length} is poisoned once chunk ${kept.length + 1} is read`);
    kept.push(chunk);
    copies.push(Buffer.from(chunk));
  }
  t.ok(kept.length > 3, `the poisoning reader cuts small chunks (${kept.length})`);
  t.ok(Buffer.concat(copies).equals(readFileSync(file)), 'copies taken in time hold the file');
  t.ok(kept.at(-1)!.every((byte) => byte === 0xdb), 'the last chunk is poisoned when the read ends');
});

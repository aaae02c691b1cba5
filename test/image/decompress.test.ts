/**
 * Layer decompression with archives compressed by the real gzip and zstd tools, and the
 * digesting pass-through used for blob digests and DiffIDs.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { decompress, detectCompression } from '../../src/image/decompress.js';
import { digesting } from '../../src/io/digest.js';
import { readTar } from '../../src/tar/reader.js';
import { InfraError } from '../../src/errors.js';
import { prerequisites } from '../helpers/env.js';
import { buildLayer, chunked, readAll } from '../helpers/tar-build.js';

function tool(cmd: string, args: string[], input: Buffer): Buffer {
  return execFileSync(cmd, args, { input, maxBuffer: 1 << 30, timeout: 60_000 });
}

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A layer with incompressible and compressible files, ~1.3 MB. */
const layer = buildLayer([
  { path: 'etc/' },
  { path: 'etc/random', data: randomBytes(300_000) },
  { path: 'etc/text', data: 'hello world\n'.repeat(80_000) },
  { path: 'bin/cap', data: 'ELF', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0xff]) } },
]);

t.test('magic detection', async (t) => {
  t.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  t.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  t.equal(detectCompression(Buffer.from('ustar')), 'none');
  t.equal(detectCompression(Buffer.alloc(0)), 'none');
});

t.test('gzip (the gzip tool), single and multi-member', async (t) => {
  if (!prerequisites(t, { tools: ['gzip'] })) return;
  const gz = tool('gzip', ['-c'], layer);
  t.ok((await collect(decompress(chunked(gz, 1000), 'application/vnd.oci.image.layer.v1.tar+gzip'))).equals(layer));
  // eStargz and pigz-style streams: several gzip members, one after another.
  const cuts = [0, 1000, 300_000, 700_001, layer.length];
  const multi = Buffer.concat(cuts.slice(1).map((end, i) => tool('gzip', ['-c'], layer.subarray(cuts[i], end))));
  t.ok((await collect(decompress(chunked(multi, 4096)))).equals(layer), 'all members, in order');
  const members = await readAll(readTar(decompress(chunked(multi, 333))));
  t.same(members.map((m) => m.entry.path), ['etc/', 'etc/random', 'etc/text', 'bin/cap']);
});

t.test('zstd (the zstd tool), single and multi-frame', async (t) => {
  if (!prerequisites(t, { tools: ['zstd'] })) return;
  const zst = tool('zstd', ['-c', '-q', '--check'], layer);
  t.ok((await collect(decompress(chunked(zst, 1000), 'application/vnd.oci.image.layer.v1.tar+zstd'))).equals(layer));
  const multi = Buffer.concat([tool('zstd', ['-c', '-q', '-19'], layer.subarray(0, 5000)), tool('zstd', ['-c', '-q', '--no-check'], layer.subarray(5000))]);
  t.ok((await collect(decompress(chunked(multi, 65536)))).equals(layer), 'frames concatenated');
  // pzstd-style: a skippable frame first (magic 0x184D2A5?, 4-byte size, payload).
  const skippable = Buffer.concat([Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
  const withSkippable = Buffer.concat([skippable, zst, skippable]);
  t.equal(detectCompression(withSkippable), 'zstd');
  t.ok((await collect(decompress(chunked(withSkippable, 777)))).equals(layer), 'skippable frames ignored');
});

t.test('xz (the xz tool): the magic decides, in .debs and old docker layers', async (t) => {
  if (!prerequisites(t, { tools: ['xz'] })) return;
  const xz = tool('xz', ['-c', '-6'], layer);
  t.equal(detectCompression(xz), 'xz');
  t.ok((await collect(decompress(chunked(xz, 777)))).equals(layer), 'decoded whole from small chunks');
  const members = await readAll(readTar(decompress(chunked(xz, 4096))));
  t.same(members.map((m) => m.entry.path), ['etc/', 'etc/random', 'etc/text', 'bin/cap']);
  await t.rejects(collect(decompress(chunked(xz.subarray(0, xz.length - 100), 1000))), { code: 'TAR', message: /truncated or corrupt \(xz:/ }, 'a cut stream is an error');
});

t.test('zstd and gzip bombs inflate a block at a time', async (t) => {
  if (!prerequisites(t, { tools: ['sh', 'head', 'gzip', 'zstd'] })) return;
  const zeros = 256 * 1024 * 1024;
  for (const [name, command] of [
    ['zstd', `head -c ${zeros} /dev/zero | zstd -q -c -3`],
    ['gzip', `head -c ${zeros} /dev/zero | gzip -c -1`],
  ] as const) {
    const bomb = execFileSync('sh', ['-c', command], { maxBuffer: 64 << 20, timeout: 120_000 });
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let total = 0;
    let largest = 0;
    // The whole compressed stream as one chunk: the worst case for a decoder without backpressure.
    for await (const chunk of decompress(chunked(bomb, bomb.length))) {
      total += chunk.length;
      largest = Math.max(largest, chunk.length);
      if ((total & 0xffffff) < chunk.length) peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    }
    t.equal(total, zeros, `${name}: ${bomb.length} bytes inflate to 256 MiB`);
    t.ok(largest <= 256 * 1024, `${name}: largest output chunk ${largest} (at most one 256 KiB inflate chunk)`);
    t.ok(peak < 64 * 1024 * 1024, `${name}: buffers grew by at most ${(peak / 1048576).toFixed(1)} MiB`);
  }
});

t.test('plain tar passes through; magic wins over the media type', async (t) => {
  t.ok((await collect(decompress(chunked(layer, 100)))).equals(layer));
  t.ok((await collect(decompress(chunked(layer, 100), 'application/vnd.oci.image.layer.v1.tar+gzip'))).equals(layer));
  t.same(await collect(decompress(chunked(Buffer.alloc(0)))), Buffer.alloc(0), 'empty stays empty');
  await t.rejects(collect(decompress(chunked(Buffer.alloc(0)), 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'layer sha256:abc')), {
    code: 'TAR',
    message: /layer sha256:abc is truncated or corrupt.*empty/,
  });
  const tiny = Buffer.from([0x1f]);
  t.same(await collect(decompress(chunked(tiny))), tiny, 'a stream shorter than any magic');
});

t.test('truncated and corrupt data', async (t) => {
  if (!prerequisites(t, { tools: ['gzip', 'zstd'] })) return;
  const gz = tool('gzip', ['-c'], layer);
  const zst = tool('zstd', ['-c', '-q', '--check'], layer);
  const flipped = (data: Buffer, at: number) => {
    const copy = Buffer.from(data);
    copy[at] ^= 0x55;
    return copy;
  };
  const bad: Array<[string, Buffer]> = [
    ['truncated gzip', gz.subarray(0, gz.length - 100)],
    ['gzip cut inside its header', gz.subarray(0, 5)],
    ['corrupt gzip data', flipped(gz, 2000)],
    ['gzip with a wrong CRC', flipped(gz, gz.length - 6)],
    ['truncated zstd', zst.subarray(0, zst.length - 100)],
    ['corrupt zstd frame header', flipped(zst, 6)],
    ['corrupt zstd block header', flipped(zst, 5)],
    ['garbage after a zstd frame', Buffer.concat([zst, Buffer.from('garbage!garbage!garbage!')])],
    // Not here: a flipped byte inside a zstd block. fzstd (used before Node 22.15) does not
    // verify the frame checksum; the blob digest and DiffID checks catch that corruption.
  ];
  for (const [name, data] of bad) {
    await t.rejects(collect(decompress(chunked(data, 4096), undefined, 'layer sha256:feed')), {
      code: 'TAR',
      message: /^layer sha256:feed is truncated or corrupt/,
    }, name);
  }
});

t.test('errors of the source pass through unchanged', async (t) => {
  if (!prerequisites(t, { tools: ['gzip'] })) return;
  const gz = tool('gzip', ['-c'], layer);
  async function* failing() {
    yield gz.subarray(0, 5000);
    throw new InfraError('NETWORK', 'connection reset');
  }
  await t.rejects(collect(decompress(failing())), { code: 'NETWORK', message: 'connection reset' });
  if (prerequisites(t, { tools: ['zstd'] })) {
    const zst = tool('zstd', ['-c', '-q'], layer);
    async function* failingZstd() {
      yield zst.subarray(0, 5000);
      throw new InfraError('NETWORK', 'connection reset');
    }
    await t.rejects(collect(decompress(failingZstd())), { code: 'NETWORK', message: 'connection reset' });
  }
  async function* failingPlain() {
    yield layer.subarray(0, 5000);
    throw new InfraError('NETWORK', 'connection reset');
  }
  await t.rejects(collect(decompress(failingPlain())), { code: 'NETWORK' });
});

t.test('decompression streams: output flows before the input is consumed', async (t) => {
  if (!prerequisites(t, { tools: ['gzip', 'zstd'] })) return;
  const big = Buffer.from(randomBytes(4 * 1024 * 1024).toString('hex')); // 8 MiB, compresses to about half
  for (const [name, compressed] of [
    ['gzip', tool('gzip', ['-c', '-1'], big)],
    ['zstd', tool('zstd', ['-c', '-q', '-1'], big)],
  ] as const) {
    let delivered = 0;
    async function* source() {
      for (let i = 0; i < compressed.length; i += 4096) {
        delivered += Math.min(4096, compressed.length - i);
        yield compressed.subarray(i, i + 4096);
      }
    }
    let total = 0;
    let largest = 0;
    let deliveredAtFirst = -1;
    for await (const chunk of decompress(source())) {
      if (deliveredAtFirst < 0) deliveredAtFirst = delivered;
      total += chunk.length;
      largest = Math.max(largest, chunk.length);
    }
    t.equal(total, big.length, `${name}: every byte`);
    t.ok(deliveredAtFirst < compressed.length, `${name}: first output after ${deliveredAtFirst} of ${compressed.length} input bytes`);
    // fzstd's unit of output is a zstd block (128 KiB); per 4 KiB of input that can be many.
    t.ok(largest <= 256 * 1024, `${name}: output chunks stay small (largest ${largest})`);
  }
});

t.test('digesting: blob digest and DiffID in one pass', async (t) => {
  if (!prerequisites(t, { tools: ['gzip'] })) return;
  const withGarbage = Buffer.concat([layer, Buffer.alloc(10_000), Buffer.from('junk after the end')]);
  const gz = tool('gzip', ['-c'], withGarbage);
  const seen: Record<string, [string, number]> = {};
  const blob = digesting(chunked(gz, 8192), (digest, size) => (seen.blob = [digest, size]));
  const diff = digesting(decompress(blob), (digest, size) => (seen.diff = [digest, size]));
  const members = await readAll(readTar(diff));
  t.equal(members.length, 4);
  t.same(seen.blob, [sha256(gz), gz.length], 'compressed digest and size');
  t.same(seen.diff, [sha256(withGarbage), withGarbage.length], 'DiffID covers the bytes after the tar end');

  const mismatch = digesting(chunked(layer, 8192), (digest) => {
    if (digest !== 'sha256:0000') throw new InfraError('INTEGRITY', `layer digest is ${digest}, expected sha256:0000`);
  });
  await t.rejects(readAll(readTar(mismatch)), { code: 'INTEGRITY' }, 'a throwing onDone fails the reader');
});

t.test('a consumer that stops early closes the source', async (t) => {
  if (!prerequisites(t, { tools: ['gzip', 'zstd'] })) return;
  const data = Buffer.from(randomBytes(2 * 1024 * 1024).toString('hex'));
  for (const [name, compressed] of [
    ['gzip', tool('gzip', ['-c', '-1'], data)],
    ['zstd', tool('zstd', ['-c', '-q', '-1'], data)],
    ['plain', data],
  ] as const) {
    const state = { closed: false, delivered: 0 };
    async function* source() {
      try {
        for (let i = 0; i < compressed.length; i += 4096) {
          state.delivered += 4096;
          yield compressed.subarray(i, i + 4096);
        }
      } finally {
        state.closed = true;
      }
    }
    let chunks = 0;
    for await (const _ of decompress(source())) if (++chunks === 3) break;
    for (let wait = 0; wait < 100 && !state.closed; wait++) await new Promise((r) => setTimeout(r, 10));
    t.ok(state.closed, `${name}: source closed`);
    t.ok(state.delivered < compressed.length / 2, `${name}: stopped reading after ${state.delivered} bytes`);
  }
});

/**
 * Layer decompression (gzip, zstd or none, chosen by magic bytes). Everything streams:
 * memory is bounded by the codecs' windows, never by the layer size.
 */
import { pipeline, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress as FzstdDecompress } from 'fzstd';
import { Readable } from 'node:stream';
import xz from 'xz-decompress';
import { InfraError } from '../errors.js';
import { ByteReader } from '../io/byte-reader.js';

export type Compression = 'gzip' | 'zstd' | 'xz' | 'none';

/** RFC 1952 member header ID1 ID2. */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** RFC 8878 frame magic number 0xFD2FB528, little-endian. */
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** RFC 8878 skippable frame magic 0x184D2A5?, little-endian (pzstd starts with one). */
const ZSTD_SKIPPABLE_TAIL = Buffer.from([0x2a, 0x4d, 0x18]);
/** XZ file format §2.1.1.1 Header Magic Bytes (docker save archives of old and .deb members use xz). */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
export const MAGIC_BYTES = XZ_MAGIC.length;
const OUTPUT_CHUNK = 256 * 1024;
/**
 * How far the inflater (on libuv's thread pool) may run ahead of the consumer: enough
 * that decompression on one core overlaps parsing and writing on the other.
 */
const READ_AHEAD = 8 * 1024 * 1024;
/**
 * `writableHighWaterMark: 0`: the pipeline asks its source for the next chunk only once
 * the codec has consumed the last one, which is as long as a recycled chunk stays valid.
 */
const zlibOptions = { chunkSize: OUTPUT_CHUNK, readableHighWaterMark: READ_AHEAD, writableHighWaterMark: 0 } as zlib.ZlibOptions;

/** The compression whose magic `head` starts with. */
export function detectCompression(head: Buffer): Compression {
  if (head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) return 'gzip';
  if (head.subarray(0, ZSTD_MAGIC.length).equals(ZSTD_MAGIC)) return 'zstd';
  if (head.length >= 4 && (head[0] & 0xf0) === 0x50 && head.subarray(1, 4).equals(ZSTD_SKIPPABLE_TAIL)) return 'zstd';
  if (head.subarray(0, XZ_MAGIC.length).equals(XZ_MAGIC)) return 'xz';
  return 'none';
}

/** The compression a layer media type declares (OCI and Docker names). */
export function declaredCompression(mediaType: string | undefined): Compression | undefined {
  if (mediaType === undefined) return undefined;
  if (/gzip$/.test(mediaType)) return 'gzip';
  if (/zstd$/.test(mediaType)) return 'zstd';
  return 'none';
}

/**
 * The uncompressed bytes of a layer. The magic bytes decide (a media type can be wrong:
 * uncompressed blobs labelled gzip exist); the media type only makes an empty blob that
 * claims compression an error. `what` names the stream in errors ("layer sha256:…").
 */
export async function* decompress(
  source: AsyncIterable<Buffer>,
  mediaType?: string,
  what = 'the layer',
): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < MAGIC_BYTES) {
    // Asking for another chunk ends the last one's lifetime (see ImageLayer.open): keep a copy.
    if (head.length > 0) head[head.length - 1] = Buffer.from(head[head.length - 1]);
    const result = await iterator.next();
    if (result.done) {
      ended = true;
      break;
    }
    head.push(result.value);
    headLength += result.value.length;
  }
  const declared = declaredCompression(mediaType);
  if (headLength === 0 && declared !== undefined && declared !== 'none') {
    throw corrupt(what, `it is empty but its media type ${mediaType} says ${declared}`);
  }
  const replay = replayed(head, ended ? undefined : iterator);
  const compression = detectCompression(Buffer.concat(head, headLength));
  if (compression === 'gzip') yield* viaZlib(replay, zlib.createGunzip(zlibOptions), what);
  else if (compression === 'zstd') yield* zstd(replay, what);
  else if (compression === 'xz') yield* viaXz(replay, what);
  else yield* replay;
}

/** The peeked chunks, then the rest of the source. */
async function* replayed(head: Buffer[], rest: AsyncIterator<Buffer> | undefined): AsyncGenerator<Buffer> {
  try {
    yield* head;
    if (!rest) return;
    for (;;) {
      const result = await rest.next();
      if (result.done) return;
      yield result.value;
    }
  } finally {
    await rest?.return?.();
  }
}

/**
 * xz through the xz-decompress WebAssembly decoder. Its web stream reads ahead, so it is
 * handed copies: the source's chunks are valid only until the next is asked for.
 */
async function* viaXz(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const input = Readable.toWeb(Readable.from(copies(source))) as ReadableStream<Uint8Array>;
  try {
    for await (const chunk of new xz.XzReadableStream(input)) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  } catch (err) {
    if (err instanceof InfraError) throw err;
    throw corrupt(what, `xz: ${(err as Error).message}`);
  }
}

async function* copies(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of source) yield Buffer.from(chunk);
}

type ZstdFactory = (options?: zlib.ZlibOptions) => Transform;

/** node:zlib has zstd from Node 22.15; older Nodes use fzstd (pure JS). */
const nodeZstd = (zlib as unknown as { createZstdDecompress?: ZstdFactory }).createZstdDecompress;

/** Both decoders get whole frame units: framing checks catch a stream cut mid-frame. */
function zstd(source: AsyncIterable<Buffer>, what: string): AsyncIterable<Buffer> {
  const units = zstdUnits(source, what);
  if (nodeZstd) return viaZlib(units, nodeZstd(zlibOptions), what);
  return viaFzstd(units, what);
}

async function* viaZlib(source: AsyncIterable<Buffer>, inflater: Transform, what: string): AsyncGenerator<Buffer> {
  // The pipeline callback sees the same error the iteration below throws.
  pipeline(source, inflater, () => undefined);
  try {
    for await (const chunk of inflater) yield chunk as Buffer;
  } catch (err) {
    throw isCodecError(err) ? corrupt(what, (err as Error).message) : err;
  } finally {
    inflater.destroy();
  }
}

/** zlib reports bad or short input with Z_* codes (Z_DATA_ERROR, Z_BUF_ERROR), zstd with ZSTD_error_*. */
function isCodecError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ZSTD_error'));
}

/**
 * fzstd decodes everything it is given at once, so it is fed one block at a time (a block
 * inflates to at most 128 KiB): a run of zeros cannot inflate one input chunk to gigabytes.
 */
async function* viaFzstd(units: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const output: Buffer[] = [];
  const decoder = new FzstdDecompress((data) => {
    if (data.length > 0) output.push(Buffer.from(data.buffer, data.byteOffset, data.length));
  });
  const push = (chunk: Uint8Array, final: boolean) => {
    try {
      decoder.push(chunk, final);
    } catch (err) {
      throw corrupt(what, (err as Error).message);
    }
  };
  for await (const unit of units) {
    push(unit, false);
    yield* output.splice(0);
  }
  push(new Uint8Array(0), true);
  yield* output.splice(0);
}

/** RFC 8878 §3.1.1: magic of skippable frames (low 4 bits free) and of data frames. */
const ZSTD_SKIPPABLE_MAGIC = 0x184d2a50;
const ZSTD_FRAME_MAGIC = 0xfd2fb528;
const ZSTD_BLOCK_TYPE_RLE = 1;
const ZSTD_BLOCK_TYPE_RESERVED = 3;

/**
 * Splits a zstd stream into frame headers, single blocks (with their 3-byte headers) and
 * checksums (RFC 8878 §3.1.1); skippable frames are dropped.
 */
async function* zstdUnits(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<Buffer> {
  const reader = new ByteReader(source);
  // Every `need` returns owned bytes: the descriptor is read again after ~1,500 more reads.
  const need = async (n: number): Promise<Buffer> => {
    const bytes = await reader.read(n);
    if (bytes.length < n) throw corrupt(what, `the data ends inside a zstd frame at byte ${reader.position}`);
    return bytes;
  };
  try {
    for (;;) {
      const magic = await reader.read(4);
      if (magic.length === 0) return;
      if (magic.length < 4) throw corrupt(what, 'the data ends inside a zstd frame magic');
      const number = magic.readUInt32LE(0);
      if ((number & 0xfffffff0) >>> 0 === ZSTD_SKIPPABLE_MAGIC) {
        const length = (await need(4)).readUInt32LE(0);
        if ((await reader.skip(length)) < length) throw corrupt(what, `the data ends inside a skippable zstd frame at byte ${reader.position}`);
        continue;
      }
      if (number !== ZSTD_FRAME_MAGIC) throw corrupt(what, `bytes at ${reader.position - 4} are not a zstd frame`);
      const descriptor = await need(1);
      const flags = descriptor[0];
      yield Buffer.concat([magic, descriptor, await need(frameHeaderRest(flags, what))]);
      for (let last = false; !last; ) {
        const header = await need(3);
        const bits = header[0] | (header[1] << 8) | (header[2] << 16);
        last = (bits & 1) === 1;
        const type = (bits >> 1) & 3;
        if (type === ZSTD_BLOCK_TYPE_RESERVED) throw corrupt(what, 'a zstd block has the reserved type');
        yield Buffer.concat([header, await need(type === ZSTD_BLOCK_TYPE_RLE ? 1 : bits >>> 3)]);
      }
      if (flags & 0x04) yield await need(4); // Content_Checksum_flag
    }
  } finally {
    await reader.close();
  }
}

/** Frame header bytes after the descriptor: window descriptor, dictionary id, content size. */
function frameHeaderRest(descriptor: number, what: string): number {
  if (descriptor & 0x08) throw corrupt(what, 'a zstd frame header has its reserved bit set');
  const singleSegment = (descriptor >> 5) & 1;
  const contentSizeBytes = [singleSegment, 2, 4, 8][descriptor >> 6];
  const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3];
  return (singleSegment ? 0 : 1) + dictionaryIdBytes + contentSizeBytes;
}

function corrupt(what: string, detail: string): InfraError {
  return new InfraError(
    'TAR',
    `${what} is truncated or corrupt (${detail}); download it again, or rebuild it if it came from a local file`,
  );
}

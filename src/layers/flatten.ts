/**
 * Image → tree: every layer, bottom to top, read as a tar stream and applied
 * (docs/layers.md). Errors name the layer they come from.
 */
import { InfraError } from '../errors.js';
import type { Image, ImageLayer } from '../image/types.js';
import { addStats, applyLayerWith, emptyStats, type ApplyOptions, type LayerStats } from './apply.js';
import type { TarMember } from '../tar/entry.js';
import { readTar } from '../tar/reader.js';
import { ContentRefs } from '../tree/links.js';
import { inventedTime, makeRoot, type DataSink, type DirInode, type Timestamp } from '../tree/tree.js';

export interface FlattenProgress {
  /** 0-based, bottom first. */
  index: number;
  count: number;
  layer: ImageLayer;
  /** `start` before the layer is read; `done` after, with its stats. */
  phase: 'start' | 'done';
  stats?: LayerStats;
}

/**
 * Tar members read over all layers, by default: room for images of a million files and
 * more, while a small archive of empty entries cannot run for minutes and take gigabytes
 * (a 10 MB gzip of a million entries took 50 s and 1.4 GB). docs/layers.md, "Budgets".
 */
export const DEFAULT_MAX_ENTRIES = 2_000_000;

export interface FlattenOptions {
  /**
   * Budget for uncompressed tar bytes over all layers (decompression bombs). Files that
   * later layers replace count too, so set it with some headroom above the image size.
   */
  maxBytes?: number;
  /** What to do when `maxBytes` is spent: an `InfraError` hint (`{size}` names an option). */
  maxBytesHint?: string;
  /** Budget for tar members over all layers; default `DEFAULT_MAX_ENTRIES`. */
  maxEntries?: number;
  /** Most names one inode may have (`ApplyOptions.maxLinks`). */
  maxLinks?: number;
  keepXattr?: (name: string) => boolean;
  /** Time of the root and of implied directories; default `inventedTime()`. */
  time?: Timestamp;
  progress?: (event: FlattenProgress) => void;
  /** Sees every layer's members before they are applied, and may wrap their bodies (to keep copies of a few files). */
  members?: (members: AsyncIterable<TarMember>) => AsyncIterable<TarMember>;
}

export interface FlattenResult {
  root: DirInode;
  /** Sums over all layers. */
  stats: LayerStats;
  /** One per layer, bottom first. */
  layers: LayerStats[];
  /** Uncompressed tar bytes read over all layers. */
  tarBytes: number;
}

export async function flatten(image: Image, sink: DataSink, options: FlattenOptions = {}): Promise<FlattenResult> {
  const time = options.time ?? inventedTime();
  const root = makeRoot(time);
  const refs = new ContentRefs();
  const stats = emptyStats();
  const layers: LayerStats[] = [];
  const budget: ByteBudget = {
    used: 0,
    max: options.maxBytes ?? Number.POSITIVE_INFINITY,
    hint: options.maxBytesHint ?? 'more than the image can hold; choose a larger {size}, or check the image is not a decompression bomb',
  };
  const entries = { read: 0, max: options.maxEntries ?? DEFAULT_MAX_ENTRIES };
  const applyOptions: ApplyOptions = { whiteouts: image.whiteouts, time };
  if (options.keepXattr) applyOptions.keepXattr = options.keepXattr;
  if (options.maxLinks !== undefined) applyOptions.maxLinks = options.maxLinks;
  for (const [index, layer] of image.layers.entries()) {
    const count = image.layers.length;
    options.progress?.({ index, count, layer, phase: 'start' });
    let layerStats: LayerStats;
    try {
      const tar = withinBudget(layer.open(), budget);
      const members = withinEntries(readTar(tar), entries);
      layerStats = await applyLayerWith(root, refs, options.members ? options.members(members) : members, sink, applyOptions);
    } catch (err) {
      throw naming(err, index + 1, layer.digest, `layer ${index + 1}/${count} (${layer.digest || image.reference})`);
    }
    addStats(stats, layerStats);
    layers.push(layerStats);
    options.progress?.({ index, count, layer, phase: 'done', stats: layerStats });
  }
  return { root, stats, layers, tarBytes: budget.used };
}

interface ByteBudget {
  used: number;
  max: number;
  hint: string;
}

/** Counts the uncompressed bytes and stops reading once the budget is spent. */
async function* withinBudget(source: AsyncIterable<Buffer>, budget: ByteBudget): AsyncIterable<Buffer> {
  for await (const chunk of source) {
    budget.used += chunk.length;
    if (budget.used > budget.max) {
      throw new InfraError('SIZE', `the layers expand to more than ${budget.max} bytes uncompressed`, { hint: budget.hint });
    }
    yield chunk;
  }
}

/** Counts the members over all layers and stops reading at one too many. */
async function* withinEntries(members: AsyncIterable<TarMember>, entries: { read: number; max: number }): AsyncIterable<TarMember> {
  for await (const member of members) {
    if (++entries.read > entries.max) {
      throw new InfraError(
        'SIZE',
        `the layers hold more than ${entries.max} entries (files, directories, links, whiteouts), the most one build reads; check the image is not an archive bomb`,
      );
    }
    yield member;
  }
}

/** An error while applying a layer, with that layer in its fields and, for image layers, its message. */
function naming(err: unknown, layer: number, digest: string, layerName: string): unknown {
  // An error that knows its layer came from the layer's source, whose message names it.
  if (!(err instanceof InfraError) || err.layer !== undefined) return err;
  const { option, path, hint } = err;
  // A rootfs tarball (no digest) is the image itself: its errors need no layer name.
  const detail = digest === '' ? err.detail : `${layerName}: ${err.detail}`;
  const known = digest || err.digest;
  return new InfraError(err.code, detail, { option, path, hint, layer, ...(known ? { digest: known } : {}), cause: err });
}

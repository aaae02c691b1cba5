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

export interface FlattenOptions {
  /**
   * Budget for uncompressed tar bytes over all layers (decompression bombs). Files that
   * later layers replace count too, so set it with some headroom above the image size.
   */
  maxBytes?: number;
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
  const budget = { used: 0, max: options.maxBytes ?? Number.POSITIVE_INFINITY };
  const applyOptions: ApplyOptions = { whiteouts: image.whiteouts, time };
  if (options.keepXattr) applyOptions.keepXattr = options.keepXattr;
  for (const [index, layer] of image.layers.entries()) {
    const count = image.layers.length;
    options.progress?.({ index, count, layer, phase: 'start' });
    let layerStats: LayerStats;
    try {
      const tar = withinBudget(layer.open(), budget);
      const members = readTar(tar);
      layerStats = await applyLayerWith(root, refs, options.members ? options.members(members) : members, sink, applyOptions);
    } catch (err) {
      throw naming(err, layer.digest, `layer ${index + 1}/${count} (${layer.digest || image.reference})`);
    }
    addStats(stats, layerStats);
    layers.push(layerStats);
    options.progress?.({ index, count, layer, phase: 'done', stats: layerStats });
  }
  return { root, stats, layers, tarBytes: budget.used };
}

/** Counts the uncompressed bytes and stops reading once the budget is spent. */
async function* withinBudget(source: AsyncIterable<Buffer>, budget: { used: number; max: number }): AsyncIterable<Buffer> {
  for await (const chunk of source) {
    budget.used += chunk.length;
    if (budget.used > budget.max) {
      throw new InfraError(
        'SIZE',
        `the layers expand to more than ${budget.max} bytes uncompressed, more than the image can hold; raise the size, or check the image is not a decompression bomb`,
      );
    }
    yield chunk;
  }
}

/** Prefixes an InfraError's message with the layer it came from, unless it names it already. */
function naming(err: unknown, digest: string, layerName: string): unknown {
  if (!(err instanceof InfraError) || err.message.includes(digest)) return err;
  return new InfraError(err.code, `${layerName}: ${err.message}`, { cause: err });
}

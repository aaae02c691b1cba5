/**
 * `rootfs from-docker` as a library call: pull (or open) the image, write its flattened
 * tree into a new ext4 image, make it bootable, and record the sidecar. The CLI only
 * parses flags and prints.
 */
import { dirname, resolve } from 'node:path';
import type { ProgressEvent } from '../events.js';
import { Ext4Writer, type Ext4Content, type Ext4Summary } from '../ext4/writer.js';
import { type RootfsSize, parseRootfsSize, sizeBytes } from '../ext4/size.js';
import { EXT4_LINK_MAX } from '../ext4/format.js';
import { openImage, type OpenImageOptions } from '../image/index.js';
import type { Image, Platform } from '../image/types.js';
import { flatten, type FlattenOptions, type FlattenResult } from '../layers/flatten.js';
import { inventedTime, type DataSink } from '../tree/tree.js';
import { type BootReport, type InitChoice, makeBootable } from '../boot/bootable.js';
import { hostnameFor } from '../boot/files.js';
import { assertRootfsName, resolveRootfsPath } from '../store/paths.js';
import { type SidecarV2, writeSidecar } from '../store/sidecar.js';
import { AUTO_BUDGET_ENV, freeBytes, parseBudget, preflight } from './preflight.js';

export interface BuildOptions extends OpenImageOptions {
  name: string;
  image: string;
  /** MiB, or 'auto' (parsed once by parseRootfsSize: a string from a command line is fine). */
  size: RootfsSize | string;
  /** Explicit output path; otherwise `<imagesDir>/rootfs-<name>.ext4`. */
  output?: string;
  imagesDir?: string;
  uuid?: string;
  /** Init system to set up (default auto). */
  init?: InitChoice;
  /** 'builtin' (default), 'none', or a path to the user's own runner binary. */
  guestRunner?: string;
  guestArgs?: string[];
  /** The build's one progress channel: steps, bytes pulled and written, the size chosen, warnings. */
  onEvent?: (event: BuildEvent) => void;
  env?: NodeJS.ProcessEnv;
}

/** The six steps of the spec's from-docker output, in order; the CLI words them. */
export const BUILD_STEPS = ['pull', 'create', 'export', 'init', 'runner', 'service'] as const;
export type BuildStep = (typeof BUILD_STEPS)[number];

/** What a build reports as it goes: the library's one progress channel, with the six steps. */
export type BuildEvent = ProgressEvent<BuildStep>;

export interface BuildResult {
  path: string;
  image: Image;
  platform?: Platform;
  summary: Ext4Summary;
  sidecar: SidecarV2;
  flattened: FlattenResult['stats'];
  /** What was set up to make the image boot. */
  boot: BootReport;
  /** Milliseconds per phase. */
  timings: { pull: number; write: number; total: number };
}

/** Where the image goes (see resolveRootfsPath), as an absolute path. */
export function outputPath(options: Pick<BuildOptions, 'name' | 'output' | 'imagesDir' | 'env'>): string {
  return resolve(resolveRootfsPath(options.name, options));
}

/** Checks every option (preflight.ts), opens (pulls) `options.image`, then builds from it: `rootfs from-docker` as a call. */
export async function buildRootfs(options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  // The name goes into the file name, the volume label, the hostname and the sidecar.
  assertRootfsName(options.name);
  const size = parseRootfsSize(options.size);
  const path = outputPath(options);
  await preflight({ ...options, imageOption: 'image', path, pathOption: options.output ? 'output' : 'imagesDir', size });
  const emit = options.onEvent ?? (() => {});
  emit({ type: 'step', step: 'pull' });
  const image = await openImage(options.image, {
    ...options,
    onProgress: (layer, bytes, total) => emit({ type: 'pull', layer, bytes, total }),
  });
  try {
    return await build(image, { ...options, size, path }, started);
  } finally {
    await image.close?.();
  }
}

/**
 * Steps 2 to 6 on an image already opened (a registry pull, a layout, an archive), with
 * the same pre-flight checks of the options as buildRootfs.
 */
export async function buildFromImage(image: Image, options: Omit<BuildOptions, 'image'>): Promise<BuildResult> {
  const started = Date.now();
  assertRootfsName(options.name);
  const size = parseRootfsSize(options.size);
  const path = outputPath(options);
  await preflight({ ...options, path, pathOption: options.output ? 'output' : 'imagesDir', size });
  return build(image, { ...options, size, path }, started);
}

/** Steps 2 to 6 on the opened image, into `path` (options checked). */
async function build(image: Image, options: Omit<BuildOptions, 'image'> & { size: RootfsSize; path: string }, started: number): Promise<BuildResult> {
  const { size, path } = options;
  const emit = options.onEvent ?? (() => {});
  const pulled = Date.now();
  emit({ type: 'step', step: 'create' });
  const time = inventedTime(options.env, image.created);
  const writer = await Ext4Writer.create(path, {
    size,
    contentKey: () => `${image.digest}\0${options.name}`,
    time,
    label: options.name,
    ...(options.uuid ? { uuid: options.uuid } : {}),
  });
  let flattened: FlattenResult;
  let boot: BootReport;
  try {
    emit({ type: 'step', step: 'export' });
    const budget = await bombBudget(path, size, options.env);
    flattened = await flattenInto(writer, image, { ...budget, time, maxLinks: EXT4_LINK_MAX }, emit);
    boot = await makeBootable(flattened.root, writer, {
      init: options.init ?? 'auto',
      guestRunner: options.guestRunner ?? 'builtin',
      ...(options.guestArgs ? { guestArgs: options.guestArgs } : {}),
      config: image.config,
      hostname: hostnameFor(options.name),
      time,
      onPart: (part) => emit({ type: 'step', step: part }),
    });
    for (const text of boot.warnings) emit({ type: 'warning', text });
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const summary = await writer.finish(flattened.root);
  emit({ type: 'size', bytes: summary.sizeBytes, auto: size === 'auto' });
  const sidecar = await recordSidecar(path, options.name, image, summary);
  const done = Date.now();
  return {
    path,
    image,
    ...(image.platform ? { platform: image.platform } : {}),
    summary,
    sidecar,
    flattened: flattened.stats,
    boot,
    timings: { pull: pulled - started, write: done - pulled, total: done - started },
  };
}

/** The sidecar of a written image: its name, the image it came from, its usage. */
export function recordSidecar(path: string, name: string, image: Image, summary: Ext4Summary): Promise<SidecarV2> {
  return writeSidecar(path, {
    name,
    image: image.reference,
    digest: image.digest,
    ...(image.platform ? { platform: image.platform } : {}),
    usedBytes: summary.usedBytes,
    inodes: { count: summary.inodeCount, used: summary.inodeCount - summary.freeInodes },
    chunkedSha256: summary.chunkedSha256,
  });
}

/** The image's layers applied into the writer, reporting bytes written per layer. */
async function flattenInto(writer: Ext4Writer, image: Image, options: FlattenOptions, emit: (event: BuildEvent) => void): Promise<FlattenResult> {
  let layer = 0;
  const report = () => emit({ type: 'write', layer, layers: image.layers.length, bytes: writer.bytesWritten });
  return flatten(image, countingSink(writer, report), {
    ...options,
    progress: (event) => {
      layer = event.index;
      report();
    },
  });
}

/** The writer, reporting after every file it stores. */
export function countingSink(writer: Ext4Writer, report: () => void): DataSink<Ext4Content> {
  return {
    writeFile: async (...args) => {
      const content = await writer.writeFile(...args);
      report();
      return content;
    },
    writeBuffer: (data) => writer.writeBuffer(data),
    release: (content) => writer.release(content),
  };
}

/**
 * Uncompressed layer bytes allowed: with a fixed size, a generous multiple of it (later
 * layers may replace files); with auto, the free space where the image goes, or less
 * when INFRA_OPERATOR_AUTO_BUDGET_BYTES says so.
 */
export async function bombBudget(path: string, size: RootfsSize, env: NodeJS.ProcessEnv = process.env): Promise<Pick<FlattenOptions, 'maxBytes' | 'maxBytesHint'>> {
  if (size !== 'auto') return { maxBytes: Math.max(sizeBytes(size) * 4, 1024 ** 3) };
  const free = await freeBytes(dirname(path));
  const lower = parseBudget(env[AUTO_BUDGET_ENV]);
  const bomb = 'or check the image is not a decompression bomb';
  if (lower !== undefined && lower < free) {
    return { maxBytes: lower, maxBytesHint: `more than the budget ${AUTO_BUDGET_ENV} sets; raise it, ${bomb}` };
  }
  return {
    maxBytes: free,
    maxBytesHint: `more than the ${Math.floor(free / 1048576)} MB free in ${dirname(path)}; free some space, choose another place with {output}, ${bomb}`,
  };
}

/**
 * `rootfs from-docker` as a library call: pull (or open) the image, write its flattened
 * tree into a new ext4 image, make it bootable, and record the sidecar. The CLI only
 * parses flags and prints.
 */
import { dirname, resolve } from 'node:path';
import { statfs } from 'node:fs/promises';
import { InfraError } from '../errors.js';
import { Ext4Writer, type ImageSummary } from '../ext4/writer.js';
import { BLOCKS_PER_MIB } from '../ext4/geometry.js';
import { openImage, type OpenImageOptions } from '../image/index.js';
import type { Image, Platform } from '../image/types.js';
import { flatten, type FlattenResult } from '../layers/flatten.js';
import { inventedTime, type DataSink, type Timestamp } from '../tree/tree.js';
import { type BootReport, type InitChoice, makeBootable } from '../boot/bootable.js';
import { hostnameFor } from '../boot/files.js';
import { imageFileName, resolveImagesDir } from '../store/paths.js';
import { type Sidecar, writeSidecar } from '../store/sidecar.js';

export interface BuildOptions extends OpenImageOptions {
  name: string;
  image: string;
  /** MiB, or 'auto'. */
  size: number | 'auto';
  /** Explicit output path; otherwise `<imagesDir>/rootfs-<name>.ext4`. */
  output?: string;
  imagesDir?: string;
  uuid?: string;
  /** Init system to set up (default auto). */
  init?: InitChoice;
  /** 'builtin' (default), 'none', or a path to the user's own runner binary. */
  guestRunner?: string;
  guestArgs?: string[];
  /** Called as each of the six build steps starts. */
  onStep?: (step: number, text: string) => void;
  /** Called as file bytes are written into the image: layer (0-based), layer count, bytes so far. */
  onWrite?: (layer: number, layers: number, bytes: number) => void;
  env?: NodeJS.ProcessEnv;
}

export interface BuildResult {
  path: string;
  image: Image;
  platform?: Platform;
  summary: ImageSummary;
  sidecar: Sidecar;
  flattened: FlattenResult['stats'];
  /** What was set up to make the image boot. */
  boot: BootReport;
  /** Milliseconds per phase. */
  timings: { pull: number; write: number; total: number };
}

export const BUILD_STEPS = 6;

/** `--output` > `--images-dir` > INFRA_OPERATOR_IMAGES_DIR > /srv/firecracker/images. */
export function outputPath(options: Pick<BuildOptions, 'name' | 'output' | 'imagesDir' | 'env'>): string {
  if (options.output) return resolve(options.output);
  return resolve(resolveImagesDir({ imagesDir: options.imagesDir, env: options.env }), imageFileName(options.name));
}

export async function buildRootfs(options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const step = options.onStep ?? (() => {});
  const path = outputPath(options);

  step(1, `Pulling Docker image: ${options.image}...`);
  const image = await openImage(options.image, options);
  try {
    const pulled = Date.now();
    step(2, `Creating ext4 image (${options.size === 'auto' ? 'auto' : `${options.size}MB`})...`);
    await checkFreeSpace(path, options.size);
    const time = toolTime(image, options.env);
    const writer = await Ext4Writer.create(path, {
      size: options.size,
      contentKey: () => `${image.digest}\0${options.name}`,
      time,
      label: options.name,
      ...(options.uuid ? { uuid: options.uuid } : {}),
    });
    let flattened: FlattenResult;
    let boot: BootReport;
    try {
      step(3, 'Exporting Docker filesystem...');
      let layer = 0;
      const report = () => options.onWrite?.(layer, image.layers.length, writer.bytesWritten);
      flattened = await flatten(image, countingSink(writer, report), {
        ...bombBudget(options.size),
        time,
        progress: (event) => {
          layer = event.index;
          report();
        },
      });
      step(4, 'Configuring init system...');
      boot = await makeBootable(flattened.root, writer, {
        init: options.init ?? 'auto',
        guestRunner: options.guestRunner ?? 'builtin',
        ...(options.guestArgs ? { guestArgs: options.guestArgs } : {}),
        config: image.config,
        hostname: hostnameFor(options.name),
        time,
      });
      step(5, 'Installing guest-runner...');
      step(6, 'Creating service...');
    } catch (err) {
      await writer.abort();
      throw err;
    }
    const summary = await writer.finish(flattened.root);
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
  } finally {
    await image.close?.();
  }
}

/** The sidecar of a written image: its name, the image it came from, its usage. */
export function recordSidecar(path: string, name: string, image: Image, summary: ImageSummary): Promise<Sidecar> {
  return writeSidecar(path, {
    name,
    image: image.reference,
    digest: image.digest,
    ...(image.platform ? { platform: image.platform } : {}),
    usedBytes: summary.usedBytes,
    inodes: { count: summary.inodeCount, used: summary.inodeCount - summary.freeInodes },
  });
}

/** The writer, reporting after every file it stores. */
export function countingSink(writer: Ext4Writer, report: () => void): DataSink {
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
 * Times the tool invents: SOURCE_DATE_EPOCH, else the image's creation time, else the
 * epoch — never the clock, so rebuilding gives the same bytes.
 */
export function toolTime(image: Image, env: NodeJS.ProcessEnv = process.env): Timestamp {
  if (env.SOURCE_DATE_EPOCH !== undefined) return inventedTime(env);
  const created = image.created ? Date.parse(image.created) : NaN;
  return Number.isFinite(created) ? { sec: Math.floor(created / 1000), nsec: 0 } : inventedTime(env);
}

/**
 * Uncompressed layer bytes allowed: with a fixed size, a generous multiple of it (later
 * layers may replace files); with auto, the free space where the image goes.
 */
export function bombBudget(size: number | 'auto'): { maxBytes?: number } {
  return size === 'auto' ? {} : { maxBytes: Math.max(size * 1024 * 1024 * 4, 1024 ** 3) };
}

/** Fails early, with numbers, when the target's file system cannot take the image. */
export async function checkFreeSpace(path: string, size: number | 'auto'): Promise<void> {
  if (size === 'auto') return;
  let fs;
  try {
    fs = await statfs(dirname(path));
  } catch {
    return; // the writer reports a missing or unwritable directory with advice
  }
  const free = fs.bavail * fs.bsize;
  // The image is sparse: require its metadata share plus the data at most, i.e. the full size.
  const needed = size * BLOCKS_PER_MIB * 4096;
  if (free < needed) {
    throw new InfraError(
      'DISK',
      `Not enough disk space in ${dirname(path)}: ${Math.floor(free / 1048576)} MB free, the image may take up to ${size} MB. Free some space (df -h ${dirname(path)}) or choose another place with --output.`,
    );
  }
}

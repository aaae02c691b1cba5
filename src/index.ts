/**
 * The library API of infra.operator: the same work the CLI does, as functions.
 *
 *   import { buildRootfs } from 'infra.operator';
 *   await buildRootfs({ name: 'python', image: 'python:3.12-alpine', size: 150 });
 *
 * S3 (`infra.operator/s3`) and reading images (`infra.operator/inspect`) have their own
 * entry points: importing this one loads neither the AWS SDK nor libext2fs.
 */
export { buildRootfs, outputPath, type BuildOptions, type BuildResult } from './api/build.js';
export { InfraError, isInfraError, EXIT, type ErrorCode } from './errors.js';
export { openImage, type OpenImageOptions } from './image/index.js';
export type { Image, ImageLayer, ImageRuntimeConfig, Platform } from './image/types.js';
export { flatten, type FlattenOptions, type FlattenResult } from './layers/flatten.js';
export { applyLayer, type ApplyOptions } from './layers/apply.js';
export { readTar } from './tar/reader.js';
export { decompress } from './image/decompress.js';
export type { TarEntry, TarMember } from './tar/entry.js';
export { makeRoot, type DataSink, type DirInode, type Inode, type Timestamp } from './tree/tree.js';
export { parseRootfsSize, type RootfsSize } from './ext4/size.js';
export { Ext4Writer, AUTO_HEADROOM, type WriterOptions, type Ext4Summary } from './ext4/writer.js';
export { makeBootable, type BootOptions, type BootReport } from './boot/bootable.js';
export { bootJob, type BootJobOptions, type BootJobOutcome } from './vm/qemu.js';
export { runJob, type RunOptions, type RunResult } from './api/run.js';
export { listLocalRootfs } from './store/local.js';
export { readSidecar, writeSidecar, type Sidecar } from './store/sidecar.js';
export { resolveImagesDir, rootfsFileName } from './store/paths.js';

/** Making an image tree bootable, and booting an image to run one job (docs/boot.md). */
export { makeBootable } from './bootable.js';
export type { BootOptions, BootReport, InitChoice, InitKind } from './bootable.js';
export { hostnameFor } from './boot-files.js';
export { bootJob } from './vm.js';
export type { AccelChoice, BootJobOptions, BootJobOutcome } from './vm.js';
export type { JobResult, JobSpec } from './job.js';

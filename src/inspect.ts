/**
 * `infra.operator/inspect`: what an ext4 image holds, read without mounting. A separate
 * entry point so that importing the main library does not load libext2fs (WASM).
 *
 *   import { inspectRootfs } from 'infra.operator/inspect';
 */
export { inspectRootfs, type RootfsInspection } from './api/inspect.js';
export { withExt4File, Ext4File, type DirectoryEntry } from './ext4/reader.js';

/**
 * `infra.operator/inspect`: what an ext4 image holds, read without mounting. A separate
 * entry point so that importing the main library does not load libext2fs (WASM).
 *
 *   import { inspectImage } from 'infra.operator/inspect';
 */
export { inspectImage, type ImageInspection } from './api/inspect.js';
export { withImage, Ext4Image, type DirectoryEntry } from './ext4/reader.js';

/** Where rootfs images live on disk, and how their file names relate to their names. */
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { InfraError } from '../errors.js';

export const DEFAULT_IMAGES_DIR = '/srv/firecracker/images';
export const IMAGES_DIR_ENV = 'INFRA_OPERATOR_IMAGES_DIR';

const IMAGE_PREFIX = 'rootfs-';
const IMAGE_SUFFIX = '.ext4';
const SIDECAR_SUFFIX = '.json';
/** Names become file names and S3 keys: keep them to a portable set. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ImagesDirOptions {
  imagesDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** `--images-dir` > INFRA_OPERATOR_IMAGES_DIR > /srv/firecracker/images. */
export function resolveImagesDir(options: ImagesDirOptions = {}): string {
  const env = options.env ?? process.env;
  return options.imagesDir || env[IMAGES_DIR_ENV] || DEFAULT_IMAGES_DIR;
}

/** `rootfs-<name>.ext4`: the file name (and S3 key) of an image. */
export function rootfsFileName(name: string): string {
  assertRootfsName(name);
  return `${IMAGE_PREFIX}${name}${IMAGE_SUFFIX}`;
}

/** The name in `rootfs-<name>.ext4`, or undefined for any other file name. */
export function nameFromRootfsFile(fileName: string): string | undefined {
  const base = basename(fileName);
  if (!base.startsWith(IMAGE_PREFIX) || !base.endsWith(IMAGE_SUFFIX)) return undefined;
  const name = base.slice(IMAGE_PREFIX.length, -IMAGE_SUFFIX.length);
  return NAME_PATTERN.test(name) ? name : undefined;
}

export function assertRootfsName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new InfraError(
      'USAGE',
      `Invalid rootfs name '${name}': use letters, digits, '.', '_' and '-' (it becomes rootfs-<name>.ext4).`,
    );
  }
}

export interface RootfsPathOptions extends ImagesDirOptions {
  /** `--output`: a file, or an existing directory to hold `rootfs-<name>.ext4`. */
  output?: string;
  /** The argument may also be a path: one with a `/` or ending in `.ext4` is taken as is. */
  orPath?: boolean;
}

/**
 * The image file for `image` (a name, or with `orPath` a path): `--output` > a path as
 * given > `rootfs-<name>.ext4` in the images directory (see resolveImagesDir).
 */
export function resolveRootfsPath(image: string, options: RootfsPathOptions = {}): string {
  if (options.output) {
    return isDirectory(options.output) ? join(options.output, rootfsFileName(image)) : options.output;
  }
  if (options.orPath && (image.includes('/') || image.endsWith(IMAGE_SUFFIX))) return image;
  return join(resolveImagesDir(options), rootfsFileName(image));
}

/**
 * The sidecar of an image file or S3 key (sidecar version 2 on): the image's name plus
 * `.json` (`rootfs-python.ext4.json`, `vm.ext4.json`), a name no other tool uses.
 */
export function sidecarPathFor(imagePathOrKey: string): string {
  return `${imagePathOrKey}${SIDECAR_SUFFIX}`;
}

/**
 * The sidecar name used before version 2 (`rootfs-python.ext4` → `rootfs-python.json`),
 * still read; undefined when the image name does not end in `.ext4` (the old rule then
 * gave today's name). It may well be a user's file (`package.json` beside `package.ext4`).
 */
export function legacySidecarPathFor(imagePathOrKey: string): string | undefined {
  return imagePathOrKey.endsWith(IMAGE_SUFFIX) ? `${imagePathOrKey.slice(0, -IMAGE_SUFFIX.length)}${SIDECAR_SUFFIX}` : undefined;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

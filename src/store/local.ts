/** The rootfs images in a local images directory. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsError } from '../io/fs-errors.js';
import { nameFromRootfsFile } from './paths.js';
import { readSidecar, type Sidecar } from './sidecar.js';

export interface LocalRootfs {
  name: string;
  path: string;
  /** File size in bytes (the filesystem size, holes included). */
  size: number;
  mtimeMs: number;
  /** The sidecar beside the image, when there is one. */
  sidecar?: Sidecar;
  /** Why the sidecar beside the image could not be used, when it could not. */
  sidecarProblem?: string;
}

/** `rootfs-*.ext4` files in `dir`, sorted by name. A missing directory is an error. */
export async function listLocalRootfs(dir: string): Promise<LocalRootfs[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw fsError(err, {
      path: dir,
      what: 'images directory',
      action: 'read',
      option: 'imagesDir',
      advice: { missing: `Images directory ${dir} does not exist.`, other: 'pass {imagesDir} or set INFRA_OPERATOR_IMAGES_DIR, or build an image first' },
    });
  }
  const images: LocalRootfs[] = [];
  for (const file of names) {
    const name = nameFromRootfsFile(file);
    if (name === undefined) continue;
    const path = join(dir, file);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) continue;
    images.push({ name, path, size: st.size, mtimeMs: st.mtimeMs, ...(await sidecarOf(path)) });
  }
  return images.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A broken sidecar must not hide the image from the listing: report it beside the image. */
async function sidecarOf(path: string): Promise<Pick<LocalRootfs, 'sidecar' | 'sidecarProblem'>> {
  try {
    const sidecar = await readSidecar(path);
    return sidecar ? { sidecar } : {};
  } catch (err) {
    return { sidecarProblem: (err as Error).message };
  }
}

/** The rootfs images in a local images directory. */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InfraError } from '../errors.js';
import { fsError, fsProblem } from '../io/fs-errors.js';
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

/**
 * Makes `dir` ready to receive an image before any work starts: created with its parents
 * (0755, as `download` does) when missing, then proven writable by creating and removing
 * a file in it exclusively — permissions, a read-only mount, ACLs and root squash all
 * show there, where access(2) would miss some. `option` is the option that chose `dir`.
 */
export async function prepareImageDirectory(dir: string, option: 'output' | 'imagesDir'): Promise<void> {
  const elsewhere = option === 'output' ? 'choose another place with {output}' : 'choose another place with {output}, {imagesDir} or INFRA_OPERATOR_IMAGES_DIR';
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const notDirectory = code === 'ENOTDIR' || code === 'EEXIST';
    throw new InfraError('DISK', notDirectory ? `Cannot create the directory ${dir}: it or one of its parents is a file, not a directory.` : `Cannot create the directory ${dir}: ${(err as Error).message}.`, {
      option,
      path: dir,
      cause: err,
      hint: notDirectory || fsProblem(err) !== 'denied' ? elsewhere : `run with sudo, create it (sudo mkdir -p ${dir}) and give it to your user, or ${elsewhere}`,
    });
  }
  const probe = join(dir, `.infra.operator-write-test.${randomBytes(6).toString('hex')}`);
  try {
    await (await open(probe, 'wx', 0o600)).close();
  } catch (err) {
    const denied = fsProblem(err) === 'denied';
    throw new InfraError('DISK', `Cannot write to ${dir}: ${(err as Error).message}.`, {
      option,
      path: dir,
      cause: err,
      hint: denied ? `run with sudo, or ${elsewhere}` : elsewhere,
    });
  }
  await rm(probe, { force: true });
}

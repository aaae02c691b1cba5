/**
 * `rootfs run` as a library call: resolve the image, refuse what cannot work before QEMU
 * starts (a file that is not ext4, an image of another architecture, a language the
 * runner does not have, a machine out of bounds), then boot it and run one job. The CLI
 * only parses flags and prints.
 */
import { InfraError, isInfraError } from '../errors.js';
import type { Ext4File } from '../ext4/reader.js';
import { checkLanguage } from '../guest/languages.js';
import { checkJob } from '../guest/protocol.js';
import { resolveRootfsPath } from '../store/paths.js';
import { readSidecar } from '../store/sidecar.js';
import { checkArchitecture, elfArchitecture } from '../vm/platform.js';
import { bootJob, checkMachine, ensureRootfs, type BootJobOptions, type BootJobOutcome } from '../vm/qemu.js';

export interface RunOptions extends Omit<BootJobOptions, 'image' | 'accel' | 'persist'> {
  /** A name (rootfs-NAME.ext4 in the images directory) or a path (anything with a slash or ending in .ext4). */
  image: string;
  imagesDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Default auto. */
  accel?: BootJobOptions['accel'];
  /** Default false: the guest's writes are discarded. */
  persist?: boolean;
}

export interface RunResult extends BootJobOutcome {
  /** The image file that was booted. */
  image: string;
}

/** The program every image needs: the guest runner is a sh script, and its architecture is the image's. */
const SHELL = '/bin/sh';
/** Bytes of /bin/sh read for its ELF header. */
const ELF_HEADER_BYTES = 64;

export async function runJob(options: RunOptions): Promise<RunResult> {
  checkJob(options.job);
  checkMachine(options);
  if (options.job.command === undefined) checkLanguage(options.job.lang);
  const image = resolveRootfsPath(options.image, { imagesDir: options.imagesDir, env: options.env, orPath: true });
  await checkRootfs(image);
  options.signal?.throwIfAborted();
  const outcome = await bootJob({ ...options, image, accel: options.accel ?? 'auto', persist: options.persist ?? false });
  return { ...outcome, image };
}

/** An ext4 file with a /bin/sh the VM can run; the sidecar's platform, when it has one, stands for /bin/sh. */
async function checkRootfs(image: string): Promise<void> {
  await ensureRootfs(image);
  // Loaded here, not at the top: importing the main entry point loads no libext2fs (src/index.ts).
  const { readSuperblock, withExt4File } = await import('../ext4/reader.js');
  try {
    await readSuperblock(image);
  } catch (err) {
    if (!isInfraError(err, 'INPUT')) throw err;
    throw new InfraError('INPUT', `${err.detail.replace(/\.$/, '')}: it cannot boot. Pass an image built by 'infra.operator rootfs from-docker'.`, { path: image });
  }
  const sidecar = await readSidecar(image).catch(() => undefined); // a broken sidecar: /bin/sh still tells
  if (sidecar?.platform !== undefined) {
    checkArchitecture(sidecar.platform.architecture, image, 'from its sidecar');
    return;
  }
  const header = await withExt4File(image, (ext4) => firstBytes(ext4, SHELL, ELF_HEADER_BYTES)).catch((err: unknown) => {
    if (!isInfraError(err, 'NOT_FOUND')) throw err;
    throw new InfraError('ROOTFS', `${image} has no ${SHELL}: the guest runner is a sh script and cannot start. Build the image from one that has a shell.`, { path: image });
  });
  const architecture = elfArchitecture(header);
  if (architecture === undefined) {
    throw new InfraError('ROOTFS', `${SHELL} in ${image} is not an ELF program, so the VM's kernel cannot run the guest runner. Build the image from one with a real shell.`, { path: image });
  }
  checkArchitecture(architecture, image, `its ${SHELL} is ${architecture}`);
}

/** The first `n` bytes (fewer if the file is shorter) of `file` in the image, symlinks followed. */
async function firstBytes(ext4: Ext4File, file: string, n: number): Promise<Buffer> {
  for await (const chunk of ext4.read(file)) return Buffer.from(chunk.subarray(0, n));
  return Buffer.alloc(0);
}

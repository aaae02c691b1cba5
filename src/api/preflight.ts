/**
 * Everything about a build's options that can be checked before the pull, checked before
 * it (from-docker and create): a mistake in a flag must not cost a download, nor appear
 * after the steps have started printing. What can only be known later (the image's size,
 * the files' names) is checked where it becomes known.
 */
import { dirname } from 'node:path';
import { statfs } from 'node:fs/promises';
import { InfraError, isInfraError } from '../errors.js';
import { checkGuestRunner } from '../boot/bootable.js';
import { parseUuid } from '../ext4/identity.js';
import { type RootfsSize, sizeBytes } from '../ext4/size.js';
import { DEFAULT_PLATFORM, parsePlatform } from '../image/media.js';
import { isRegistryHost, parseSource } from '../image/reference.js';
import { checkCredentialOptions, type CredentialOptions } from '../image/registry/credentials.js';
import { checkRepositoryLines } from '../packages/deb/sources.js';
import { prepareImageDirectory } from '../store/local.js';
import { assertSidecarReplaceable } from '../store/sidecar.js';

export interface PreflightOptions extends CredentialOptions {
  env?: NodeJS.ProcessEnv;
  insecureRegistries?: readonly string[];
  /** The image reference, and the option that gave it (from-docker's `image`, create's `base`); none for an image already open. */
  image?: string;
  imageOption?: 'image' | 'base';
  platform?: string;
  uuid?: string;
  guestRunner?: string;
  /** One-line package sources (create's `repositories`). */
  repositories?: readonly string[];
  /** The image file to write, and the option that chose its directory. */
  path: string;
  pathOption: 'output' | 'imagesDir';
  size: RootfsSize;
}

/**
 * Values first (malformed ones are usage errors), then the files they name, then the
 * output directory, created when missing: the one check with an effect, done last.
 */
export async function preflight(options: PreflightOptions): Promise<void> {
  if (options.image !== undefined) checkReference(options.image, options.imageOption ?? 'image');
  parsePlatform(options.platform ?? DEFAULT_PLATFORM);
  if (options.uuid !== undefined) parseUuid(options.uuid);
  if (options.size === 'auto') parseBudget((options.env ?? process.env)[AUTO_BUDGET_ENV]);
  if (options.repositories) checkRepositoryLines(options.repositories);
  checkInsecureRegistries(options.insecureRegistries ?? []);
  await checkCredentialOptions(options);
  if (options.guestRunner !== undefined) await checkGuestRunner(options.guestRunner);
  await prepareImageDirectory(dirname(options.path), options.pathOption);
  await checkFreeSpace(options.path, options.size);
  // A user's file where the sidecar goes is refused with nothing done.
  await assertSidecarReplaceable(options.path);
}

/** The reference's syntax only: whether it names something that exists is the pull's business. */
function checkReference(image: string, option: PreflightOptions['imageOption']): void {
  try {
    parseSource(image);
  } catch (err) {
    throw isInfraError(err) ? err.with({ option }) : err;
  }
}

function checkInsecureRegistries(hosts: readonly string[]): void {
  const bad = hosts.find((host) => !isRegistryHost(host));
  if (bad !== undefined) {
    throw new InfraError('USAGE', `'${bad}' is not a registry host.`, { option: 'insecureRegistry', hint: 'give {insecureRegistry} as host or host:port, e.g. localhost:5000' });
  }
}

/** Bytes an unprivileged user may still write in `dir` (statfs f_bavail × f_bsize). */
export async function freeBytes(dir: string): Promise<number> {
  try {
    const fs = await statfs(dir);
    return fs.bavail * fs.bsize;
  } catch (err) {
    throw new InfraError('DISK', `Cannot read the free space of ${dir}: ${(err as Error).message}.`, { cause: err });
  }
}

/** Fails early, with numbers, when the target's file system cannot take a fixed-size image. */
async function checkFreeSpace(path: string, size: RootfsSize): Promise<void> {
  if (size === 'auto') return;
  const free = await freeBytes(dirname(path));
  // The image is sparse: require its metadata share plus the data at most, i.e. the full size.
  const needed = sizeBytes(size);
  if (free < needed) {
    throw new InfraError(
      'DISK',
      `Not enough disk space in ${dirname(path)}: ${Math.floor(free / 1048576)} MB free, the image may take up to ${size} MB.`,
      { option: 'output', path: dirname(path), hint: `free some space (df -h ${dirname(path)}) or choose another place with {output}` },
    );
  }
}

/** With `size: 'auto'`, lowers the byte budget below the free space (tests; docs/cli.md). */
export const AUTO_BUDGET_ENV = 'INFRA_OPERATOR_AUTO_BUDGET_BYTES';

/** INFRA_OPERATOR_AUTO_BUDGET_BYTES, when set. */
export function parseBudget(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const bytes = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(bytes)) {
    throw new InfraError('USAGE', `${AUTO_BUDGET_ENV} must be a whole number of bytes, not '${raw}'; unset it to use the free space.`);
  }
  return bytes;
}

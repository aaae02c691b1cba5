/**
 * The sidecar file beside each image (`rootfs-python.ext4` → `rootfs-python.ext4.json`)
 * and beside it in S3: where the image came from, what it holds and its digest, so that
 * `list`, `inspect`, `upload` and `download` need not recompute it. The document itself
 * is declared in sidecar-format.ts; docs/store.md describes both.
 */
import { type Stats } from 'node:fs';
import { lstat, readFile, rm, stat } from 'node:fs/promises';
import { InfraError } from '../errors.js';
import { VERSION } from '../version.js';
import { DIGEST_CHUNK_BYTES, chunkedDigestFile, digestFile } from '../io/digest.js';
import { fsError } from '../io/fs-errors.js';
import { writeFileReplacing } from '../io/temp.js';
import { legacySidecarPathFor, sidecarPathFor } from './paths.js';
import { MAX_SIDECAR_BYTES, checkSidecar, notASidecar, type Sidecar, type SidecarCheck, type SidecarV2 } from './sidecar-format.js';

export { parseSidecar, type Sidecar, type SidecarV1, type SidecarV2 } from './sidecar-format.js';

const NO_IMAGE_ADVICE = "build it with 'infra.operator rootfs from-docker' or download it with 'infra.operator rootfs download'";

/**
 * What the builder knows; writeSidecar measures the rest from the file. A writer that
 * hashed the image while writing it gives its `chunkedSha256`, so it is not read back.
 */
export type SidecarFacts = Pick<Sidecar, 'name' | 'image' | 'digest' | 'usedBytes' | 'inodes'> &
  Partial<Pick<Sidecar, 'platform' | 'builtAt'>> &
  Partial<Pick<SidecarV2, 'chunkedSha256'>>;

/**
 * The digest an image is verified by: `sha256`, the plain one (version 1 sidecars, and
 * objects they uploaded), or `chunked-sha256` (version 2). The kind is also the name of
 * the S3 user metadata that carries it (`x-amz-meta-<kind>`).
 */
export type DigestKind = 'sha256' | 'chunked-sha256';
export interface ImageDigest {
  kind: DigestKind;
  hex: string;
}

/**
 * Refuses, before any work starts, an image whose sidecar path holds something that is
 * not a sidecar of ours (a user's file, a directory, a link): writing the sidecar would
 * replace it.
 */
export async function assertSidecarReplaceable(rootfsPath: string): Promise<void> {
  const path = sidecarPathFor(rootfsPath);
  const found = await sidecarFileAt(path);
  if (found === undefined || 'sidecar' in found) return;
  throw new InfraError('INPUT', `${path} is in the way of the image's sidecar and is not an infra.operator sidecar (${found.problem}), so it is not replaced.`, {
    option: 'output',
    path,
    hint: 'move that file away, or give the image another file name with {output}',
  });
}

/**
 * Writes the version 2 sidecar of a finished image beside it, hashing the image (the
 * chunked sha256) unless `facts` has it. Call it after the image file is closed: its size
 * and mtime are recorded.
 */
export async function writeSidecar(rootfsPath: string, facts: SidecarFacts): Promise<SidecarV2> {
  const before = await statRootfs(rootfsPath);
  const chunkedSha256 = facts.chunkedSha256 ?? (await chunkedDigestFile(rootfsPath)).sha256;
  const after = facts.chunkedSha256 === undefined ? await statRootfs(rootfsPath) : before;
  if (after.mtimeMs !== before.mtimeMs || after.size !== before.size) {
    throw new InfraError('DISK', `${rootfsPath} changed while it was being hashed; run the command again when nothing else writes it.`);
  }
  const sidecar: SidecarV2 = {
    version: 2,
    name: facts.name,
    image: facts.image,
    digest: facts.digest,
    ...(facts.platform ? { platform: facts.platform } : {}),
    size: after.size,
    usedBytes: facts.usedBytes,
    inodes: { count: facts.inodes.count, used: facts.inodes.used },
    chunkSize: DIGEST_CHUNK_BYTES,
    chunkedSha256,
    toolVersion: VERSION,
    builtAt: facts.builtAt ?? new Date().toISOString(),
    imageMtimeMs: after.mtimeMs,
  };
  await storeSidecar(rootfsPath, sidecar);
  return sidecar;
}

/**
 * Writes `sidecar` beside `rootfsPath` under the sidecar name, then removes the sidecar of
 * ours left under the name used before version 2 (only if it parses as one). Returns the path.
 */
export async function storeSidecar(rootfsPath: string, sidecar: Sidecar): Promise<string> {
  // Checked up front by the commands; again here, as the file may have appeared since.
  await assertSidecarReplaceable(rootfsPath);
  const path = sidecarPathFor(rootfsPath);
  await writeSidecarFile(path, sidecar);
  const legacy = legacySidecarPathFor(rootfsPath);
  if (legacy !== undefined && (await legacySidecarAt(legacy)) !== undefined) await rm(legacy, { force: true });
  return path;
}

/** Writes `sidecar` to `path` through an exclusive temporary file (src/io/temp.ts). */
export async function writeSidecarFile(path: string, sidecar: Sidecar): Promise<void> {
  try {
    await writeFileReplacing(path, `${JSON.stringify(sidecar, null, 2)}\n`);
  } catch (err) {
    throw fsError(err, { path, action: 'write' });
  }
}

/**
 * The sidecar beside `rootfsPath`, or undefined when there is none: under its name (a
 * file there that is not a sidecar is an error), else under the name used before
 * version 2 when what is there parses as one (else it is someone else's file, ignored).
 */
export async function readSidecar(rootfsPath: string): Promise<Sidecar | undefined> {
  const path = sidecarPathFor(rootfsPath);
  const found = await sidecarFileAt(path);
  if (found !== undefined) {
    if ('problem' in found) throw notASidecar(path, found.problem);
    return found.sidecar;
  }
  const legacy = legacySidecarPathFor(rootfsPath);
  return legacy === undefined ? undefined : legacySidecarAt(legacy);
}

async function legacySidecarAt(path: string): Promise<Sidecar | undefined> {
  const found = await sidecarFileAt(path).catch(() => undefined);
  return found !== undefined && 'sidecar' in found ? found.sidecar : undefined;
}

/** What is at `path`: nothing (undefined), a sidecar, or something else (why it is not one). */
async function sidecarFileAt(path: string): Promise<SidecarCheck | undefined> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, { path, action: 'read' });
  }
  if (!st.isFile()) return { problem: 'not a regular file' };
  if (st.size > MAX_SIDECAR_BYTES) return { problem: `${st.size} bytes, more than a sidecar ever holds` };
  try {
    return checkSidecar(await readFile(path, 'utf8'));
  } catch (err) {
    throw fsError(err, { path, action: 'read' });
  }
}

/**
 * Whether `sidecar` still describes the image file (same size, and same mtime when the
 * file has one: an S3 object's is not the file's): only then is its digest the file's.
 */
export function sidecarDescribes(sidecar: Sidecar, file: { size: number; mtimeMs?: number }): boolean {
  return sidecar.size === file.size && (file.mtimeMs === undefined || sidecar.imageMtimeMs === file.mtimeMs);
}

/** The digest a sidecar records, by its version. */
export function sidecarDigest(sidecar: Sidecar): ImageDigest {
  return sidecar.version === 2 ? { kind: 'chunked-sha256', hex: sidecar.chunkedSha256 } : { kind: 'sha256', hex: sidecar.sha256 };
}

/** `sidecar` recording `hex` as the digest of the kind its version records (see sidecarDigest). */
export function withSidecarDigest(sidecar: Sidecar, hex: string): Sidecar {
  return sidecar.version === 2 ? { ...sidecar, chunkedSha256: hex } : { ...sidecar, sha256: hex };
}

/** Reads the file once for a digest of `kind`. */
export async function computeDigest(path: string, kind: DigestKind): Promise<ImageDigest> {
  const hex = kind === 'sha256' ? await (await digestFile(path)).hex() : (await chunkedDigestFile(path)).sha256;
  return { kind, hex };
}

/**
 * The image's digest: the sidecar's when it still describes this file, else computed now
 * (of the kind the sidecar records; chunked without a sidecar).
 */
export async function imageDigest(rootfsPath: string, sidecar: Sidecar | undefined): Promise<{ digest: ImageDigest; fromSidecar: boolean }> {
  const st = await statRootfs(rootfsPath);
  if (sidecar && sidecarDescribes(sidecar, st)) return { digest: sidecarDigest(sidecar), fromSidecar: true };
  return { digest: await computeDigest(rootfsPath, sidecar ? sidecarDigest(sidecar).kind : 'chunked-sha256'), fromSidecar: false };
}

/** The image's stats (size, mtime); NOT_FOUND, with `missingAdvice` as its hint, when there is none. */
export async function statRootfs(rootfsPath: string, missingAdvice = NO_IMAGE_ADVICE): Promise<Stats> {
  try {
    return await stat(rootfsPath);
  } catch (err) {
    throw fsError(err, { path: rootfsPath, action: 'read', advice: { missing: `No image at ${rootfsPath}.`, other: missingAdvice } });
  }
}

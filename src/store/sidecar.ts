/**
 * The sidecar JSON written beside each image (`rootfs-python.ext4` → `rootfs-python.json`)
 * and uploaded beside it in S3: where the image came from and what it holds, so that
 * `list`, `inspect` and `upload` need not recompute it. Format documented in docs/store.md.
 */
import { type Stats } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { InfraError } from '../errors.js';
import { VERSION } from '../version.js';
import type { Platform } from '../image/types.js';
import { digestFile } from '../io/digest.js';
import { fsError } from '../io/fs-errors.js';
import { sidecarPathFor } from './paths.js';

const NO_IMAGE_ADVICE = "build it with 'infra.operator rootfs from-docker' or download it with 'infra.operator rootfs download'";

/** The sidecar file, version 1. Field names are the JSON keys. */
export interface Sidecar {
  /** The rootfs name (`python` for rootfs-python.ext4). */
  name: string;
  /** The source reference as given (`python:3.12-alpine`, `oci:dir:tag`, `tar:file`). */
  image: string;
  /** The source manifest digest (`sha256:…`). */
  digest: string;
  platform?: Platform;
  /** Image file size in bytes. */
  size: number;
  /** Bytes in use inside the filesystem (blocks in use × block size). */
  usedBytes: number;
  inodes: { count: number; used: number };
  /** Hex sha256 of the whole image file (holes read as zeros). */
  sha256: string;
  /** infra.operator version that built the image. */
  toolVersion: string;
  /** ISO 8601 time the image was built. */
  builtAt: string;
  /** The image file's mtime (ms) when sha256 was computed: a later change invalidates sha256. */
  imageMtimeMs: number;
}

/** What the builder knows; writeSidecar measures the rest from the file. */
export type SidecarFacts = Pick<Sidecar, 'name' | 'image' | 'digest' | 'usedBytes' | 'inodes'> &
  Partial<Pick<Sidecar, 'platform' | 'builtAt'>>;

/**
 * Hashes the finished image and writes its sidecar beside it (atomically: a temporary
 * file renamed). Call it after the image file is closed: its size and mtime are recorded.
 */
export async function writeSidecar(rootfsPath: string, facts: SidecarFacts): Promise<Sidecar> {
  const before = await statRootfs(rootfsPath);
  const sha256 = (await digestFile(rootfsPath)).hex();
  const after = await statRootfs(rootfsPath);
  if (after.mtimeMs !== before.mtimeMs || after.size !== before.size) {
    throw new InfraError('DISK', `${rootfsPath} changed while it was being hashed; run the command again when nothing else writes it.`);
  }
  const sidecar: Sidecar = {
    name: facts.name,
    image: facts.image,
    digest: facts.digest,
    ...(facts.platform ? { platform: facts.platform } : {}),
    size: after.size,
    usedBytes: facts.usedBytes,
    inodes: { count: facts.inodes.count, used: facts.inodes.used },
    sha256,
    toolVersion: VERSION,
    builtAt: facts.builtAt ?? new Date().toISOString(),
    imageMtimeMs: after.mtimeMs,
  };
  await writeSidecarFile(sidecarPathFor(rootfsPath), sidecar);
  return sidecar;
}

/** Writes `sidecar` to `path` through a temporary file. */
export async function writeSidecarFile(path: string, sidecar: Sidecar): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temporary, `${JSON.stringify(sidecar, null, 2)}\n`);
    await rename(temporary, path);
  } catch (err) {
    throw fsError(err, { path, action: 'write' });
  }
}

/** The sidecar beside `rootfsPath`, or undefined when there is none. A malformed one is an error. */
export async function readSidecar(rootfsPath: string): Promise<Sidecar | undefined> {
  const path = sidecarPathFor(rootfsPath);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(err, { path, action: 'read' });
  }
  return parseSidecar(text, path);
}

/** Parses and checks a sidecar document; `source` names it in errors. */
export function parseSidecar(text: string, source: string): Sidecar {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InfraError('INPUT', `${source} is not valid JSON (${(err as Error).message}); delete it, or rebuild the image to rewrite it.`);
  }
  const problem = sidecarProblem(value);
  if (problem) throw new InfraError('INPUT', `${source} is not an infra.operator sidecar: ${problem}; delete it, or rebuild the image to rewrite it.`);
  return value as Sidecar;
}

function sidecarProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const v = value as Record<string, unknown>;
  for (const key of ['name', 'image', 'digest', 'sha256', 'toolVersion', 'builtAt'] as const) {
    if (typeof v[key] !== 'string') return `"${key}" must be a string`;
  }
  for (const key of ['size', 'usedBytes', 'imageMtimeMs'] as const) {
    if (typeof v[key] !== 'number' || !Number.isFinite(v[key])) return `"${key}" must be a number`;
  }
  const inodes = v.inodes as Record<string, unknown> | undefined;
  if (typeof inodes !== 'object' || inodes === null || typeof inodes.count !== 'number' || typeof inodes.used !== 'number') {
    return '"inodes" must be {count, used}';
  }
  if (!/^[0-9a-f]{64}$/.test(v.sha256 as string)) return '"sha256" must be 64 hex digits';
  return undefined;
}

/**
 * Whether `sidecar` still describes the image file (same size, and same mtime when the
 * file has one: an S3 object's is not the file's): only then is its sha256 the file's.
 */
export function sidecarDescribes(sidecar: Sidecar, file: { size: number; mtimeMs?: number }): boolean {
  return sidecar.size === file.size && (file.mtimeMs === undefined || sidecar.imageMtimeMs === file.mtimeMs);
}

/** The image's sha256: the sidecar's when it still describes this file, else computed now. */
export async function imageSha256(rootfsPath: string, sidecar: Sidecar | undefined): Promise<{ sha256: string; fromSidecar: boolean }> {
  const st = await statRootfs(rootfsPath);
  if (sidecar && sidecarDescribes(sidecar, st)) return { sha256: sidecar.sha256, fromSidecar: true };
  return { sha256: (await digestFile(rootfsPath)).hex(), fromSidecar: false };
}

/** The image's stats (size, mtime); NOT_FOUND, with `missingAdvice` as its hint, when there is none. */
export async function statRootfs(rootfsPath: string, missingAdvice = NO_IMAGE_ADVICE): Promise<Stats> {
  try {
    return await stat(rootfsPath);
  } catch (err) {
    throw fsError(err, { path: rootfsPath, action: 'read', advice: { missing: `No image at ${rootfsPath}.`, other: missingAdvice } });
  }
}

/**
 * The sidecar document, versions 1 and 2, declared once: its types, its JSON schemas
 * (validated with ajv, unknown keys dropped) and its parser. A sidecar may come from
 * anyone (a shared images directory, a bucket): it is checked before any field is used.
 * Format documented in docs/store.md ("The sidecar").
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { InfraError } from '../errors.js';
import type { Platform } from '../image/types.js';
import { DIGEST_CHUNK_BYTES } from '../io/digest.js';
import { NAME_PATTERN } from './paths.js';

/** Larger than any sidecar we write (under 1 KiB): a bigger file is refused unread. */
export const MAX_SIDECAR_BYTES = 64 * 1024;

/** The fields of both versions. Field names are the JSON keys. */
interface SidecarFacts {
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
  /** infra.operator version that built the image. */
  toolVersion: string;
  /** ISO 8601 time the image was built. */
  builtAt: string;
  /** The image file's mtime (ms) when the digest was computed: a later change invalidates it. */
  imageMtimeMs: number;
}

/** Version 1 (no `version` key), written up to 0.2: the image's plain sha256. */
export interface SidecarV1 extends SidecarFacts {
  version?: 1;
  /** Hex sha256 of the whole image file (holes read as zeros). */
  sha256: string;
}

/** Version 2: the image's chunked sha256 (ChunkedDigest in src/io/digest.ts). */
export interface SidecarV2 extends SidecarFacts {
  version: 2;
  /** The chunk of `chunkedSha256`, in bytes: DIGEST_CHUNK_BYTES. */
  chunkSize: number;
  /** Hex chunked sha256 of the image file (holes read as zeros). */
  chunkedSha256: string;
}

export type Sidecar = SidecarV1 | SidecarV2;

const HEX_SHA256 = '^[0-9a-f]{64}$';
const text = (maxLength: number) => ({ type: 'string', maxLength });
const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const FACTS_SCHEMA = {
  name: text(255),
  image: text(4096),
  digest: text(255),
  platform: {
    type: 'object',
    additionalProperties: false,
    required: ['os', 'architecture'],
    properties: { os: text(64), architecture: text(64), variant: text(64) },
  },
  size: count,
  usedBytes: count,
  inodes: { type: 'object', additionalProperties: false, required: ['count', 'used'], properties: { count, used: count } },
  toolVersion: text(64),
  builtAt: text(64),
  imageMtimeMs: { type: 'number', minimum: 0 },
};
const FACTS_REQUIRED = ['name', 'image', 'digest', 'size', 'usedBytes', 'inodes', 'toolVersion', 'builtAt', 'imageMtimeMs'];

const SCHEMAS = {
  1: {
    type: 'object',
    additionalProperties: false,
    required: [...FACTS_REQUIRED, 'sha256'],
    properties: { ...FACTS_SCHEMA, version: { const: 1 }, sha256: { type: 'string', pattern: HEX_SHA256 } },
  },
  2: {
    type: 'object',
    additionalProperties: false,
    required: ['version', ...FACTS_REQUIRED, 'chunkSize', 'chunkedSha256'],
    properties: {
      ...FACTS_SCHEMA,
      // Version 2 is written for valid names only.
      name: { type: 'string', maxLength: 255, pattern: NAME_PATTERN.source },
      version: { const: 2 },
      chunkSize: { const: DIGEST_CHUNK_BYTES },
      chunkedSha256: { type: 'string', pattern: HEX_SHA256 },
    },
  },
} as const;
type Version = keyof typeof SCHEMAS;

let ajv: Ajv | undefined;
const validators = new Map<Version, ValidateFunction>();

function validator(version: Version): ValidateFunction {
  let validate = validators.get(version);
  if (!validate) {
    // removeAdditional: keys the schema does not name are dropped, never carried along.
    ajv ??= new Ajv({ allErrors: true, removeAdditional: true, strict: false });
    validate = ajv.compile(SCHEMAS[version]);
    validators.set(version, validate);
  }
  return validate;
}

/** A checked sidecar, or what makes the text not one. */
export type SidecarCheck = { sidecar: Sidecar } | { problem: string };

export function checkSidecar(text: string): SidecarCheck {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { problem: `not valid JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problem: 'not a JSON object' };
  const version = (value as { version?: unknown }).version ?? 1;
  if (version !== 1 && version !== 2) {
    return { problem: `sidecar version ${JSON.stringify(version).slice(0, 32)}, which this infra.operator does not read (upgrade it)` };
  }
  const validate = validator(version);
  if (!validate(value)) {
    const problems = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
    return { problem: problems.join('; ') };
  }
  return { sidecar: value as Sidecar };
}

/** Parses and checks a sidecar document; `source` names it in errors, `hint` says what to do. */
export function parseSidecar(text: string, source: string, hint?: string): Sidecar {
  const checked = checkSidecar(text);
  if ('problem' in checked) throw notASidecar(source, checked.problem, hint);
  return checked.sidecar;
}

export function notASidecar(source: string, problem: string, hint = 'delete it, or rebuild the image to rewrite it'): InfraError {
  return new InfraError('INPUT', `${source} is not an infra.operator sidecar: ${problem}.`, { hint });
}

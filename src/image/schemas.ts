/**
 * Validation of image documents against the JSON schemas shipped in `schemas/`
 * (next to `src/` and `dist/`, so the same relative path works from both).
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { InfraError } from '../errors.js';
import type { DockerArchiveEntry, ImageConfigDocument, ImageIndex, ImageManifest } from './media.js';

const SCHEMA_DIR = new URL('../../schemas/', import.meta.url);

/** Document kind → its schema file and its type. */
interface Documents {
  'image-index': ImageIndex;
  'image-manifest': ImageManifest;
  'image-config': ImageConfigDocument;
  'docker-archive-manifest': DockerArchiveEntry[];
  'oci-layout': { imageLayoutVersion: string };
}
export type DocumentKind = keyof Documents;

let ajv: Ajv | undefined;
const validators = new Map<DocumentKind, ValidateFunction>();

function loadSchema(file: string): object {
  return JSON.parse(readFileSync(new URL(file, SCHEMA_DIR), 'utf8')) as object;
}

function validator(kind: DocumentKind): ValidateFunction {
  let validate = validators.get(kind);
  if (!validate) {
    ajv ??= new Ajv({ allErrors: true, strict: false }).addSchema(loadSchema('descriptor.schema.json'));
    validate = ajv.compile(loadSchema(`${kind}.schema.json`));
    validators.set(kind, validate);
  }
  return validate;
}

/**
 * Parses and validates one document. `name` says which document it is (e.g.
 * "manifest sha256:… of docker://…") so the MANIFEST error points at it.
 */
export function parseDocument<K extends DocumentKind>(kind: K, bytes: Buffer | string, name: string): Documents[K] {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString());
  } catch (err) {
    throw new InfraError('MANIFEST', `${name} is not valid JSON (${(err as Error).message}); the image is malformed`);
  }
  const validate = validator(kind);
  if (!validate(value)) {
    const problems = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
      .join('; ');
    throw new InfraError('MANIFEST', `${name} is not a valid ${kind.replace(/-/g, ' ')}: ${problems}`);
  }
  return value as Documents[K];
}

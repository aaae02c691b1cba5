/** Content digests (image-spec descriptor.md "Digests"): only sha256 is produced by registries we pull from. */
import { createHash } from 'node:crypto';
import { InfraError } from '../errors.js';
import { DigestCounter } from '../io/digest.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isDigest(text: string): boolean {
  return SHA256.test(text);
}

/** Throws MANIFEST unless `digest` is a sha256 digest, which is all this tool verifies. */
export function assertDigest(digest: string, what: string): string {
  if (!isDigest(digest)) {
    throw new InfraError('MANIFEST', `${what} has an unsupported digest "${digest}" (only sha256 is supported)`);
  }
  return digest;
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${sha256Hex(data)}`;
}

/** Hex part of a sha256 digest (used as a file name). */
export function digestHex(digest: string): string {
  return assertDigest(digest, 'blob').slice('sha256:'.length);
}

/**
 * Passes `source` through, then throws INTEGRITY if the bytes seen do not have
 * `expected` digest (and `size`, when given). `what` names the content in the message.
 */
export async function* verified(
  source: AsyncIterable<Buffer>,
  expected: { digest: string; size?: number },
  what: string,
): AsyncIterable<Buffer> {
  const counter = new DigestCounter();
  for await (const chunk of source) {
    await counter.update(chunk);
    if (expected.size !== undefined && counter.bytes > expected.size) {
      throw integrityError(what, `more than the ${expected.size} bytes declared`);
    }
    yield chunk;
  }
  if (expected.size !== undefined && counter.bytes !== expected.size) {
    throw integrityError(what, `${counter.bytes} bytes instead of the ${expected.size} declared`);
  }
  const actual = await counter.digest();
  if (actual !== expected.digest) {
    throw integrityError(what, `digest ${actual} instead of ${expected.digest}`);
  }
}

function integrityError(what: string, detail: string): InfraError {
  return new InfraError(
    'INTEGRITY',
    `${what} is corrupt: ${detail}. Pull again; if it persists the source (registry, archive or cache) holds damaged data`,
  );
}

/**
 * An image's identity: its UUID and directory hash seed derive from the input's content
 * digest (so rebuilding gives the same bytes) unless a UUID is given.
 */
import { createHash } from 'node:crypto';
import { InfraError } from '../errors.js';
import type { Timestamp } from '../tree/tree.js';
import type { Identity } from './types.js';

export function identityFor(options: { contentKey: string; uuid?: string; time: Timestamp; label?: string }): Identity {
  const seed = createHash('sha256').update(`infra.operator ext4 v1\0${options.contentKey}`).digest();
  const uuid = options.uuid ? parseUuid(options.uuid) : uuidFrom(seed.subarray(0, 16));
  return { uuid, hashSeed: Buffer.from(seed.subarray(16, 32)), time: options.time, label: options.label ?? '' };
}

/** A random-looking version 4 UUID from hash bytes (RFC 4122 version and variant bits). */
function uuidFrom(bytes: Buffer): Buffer {
  const uuid = Buffer.from(bytes);
  uuid[6] = (uuid[6]! & 0x0f) | 0x40;
  uuid[8] = (uuid[8]! & 0x3f) | 0x80;
  return uuid;
}

/** A filesystem UUID as given (hex, dashes optional); the all-zero UUID means none to ext4 tools. */
export function parseUuid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex) || /^0+$/.test(hex)) {
    throw new InfraError('USAGE', `'${text}' is not a non-zero UUID.`, { option: 'uuid', hint: 'give {uuid} like 0b0e2c0a-9c34-4bd5-9c70-3d1f8e5b2a11' });
  }
  return Buffer.from(hex, 'hex');
}

/**
 * The one error type of infra.operator. `code` is stable (scripts may match on it);
 * `message` says what went wrong and what to do next.
 */
export type ErrorCode =
  | 'USAGE' // invalid flags or arguments (exit 2)
  | 'NOT_IMPLEMENTED' // a command whose work has not landed yet
  | 'INPUT' // the input is unusable: bad reference, missing file, wrong transport
  | 'TAR' // a corrupt, truncated or unsupported tar stream
  | 'LAYER' // a layer that cannot be applied (hostile paths, bad hard links, whiteouts)
  | 'SIZE' // the image does not fit the requested size
  | 'XATTR' // an extended attribute that ext4 cannot store
  | 'NETWORK' // the registry or S3 could not be reached
  | 'AUTH' // credentials missing or refused
  | 'NOT_FOUND' // image, tag, blob, bucket or object does not exist
  | 'PLATFORM' // no manifest for the requested platform
  | 'INTEGRITY' // a digest, size or checksum did not match
  | 'MANIFEST' // a manifest, index or config is malformed
  | 'DISK' // local disk: not writable, no space
  | 'ROOTFS' // the image cannot be made bootable as asked
  | 'VM_UNAVAILABLE' // no kernel / VMM to boot with (exit 3)
  | 'S3'; // S3 operation failed

/** Exit codes, documented in docs/exit-codes.md. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, VM_UNAVAILABLE: 3 } as const;

export class InfraError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InfraError';
    this.code = code;
  }

  get exitCode(): number {
    if (this.code === 'USAGE') return EXIT.USAGE;
    if (this.code === 'VM_UNAVAILABLE') return EXIT.VM_UNAVAILABLE;
    return EXIT.FAILED;
  }
}

export function isInfraError(err: unknown, code?: ErrorCode): err is InfraError {
  return err instanceof InfraError && (code === undefined || err.code === code);
}

/** Renders a byte-string path (see layers/tree.ts) for messages. */
export function printable(byteString: string): string {
  return Buffer.from(byteString, 'latin1').toString('utf8');
}

/**
 * Text from outside (registry error bodies, headers, challenges) made safe to print:
 * C0 controls, DEL and C1 controls become visible `\xHH`, so a hostile server cannot
 * move the cursor, recolour or retitle the user's terminal through an error message.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

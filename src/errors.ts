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
  | 'PACKAGE' // a .deb that cannot be installed: malformed, or conflicting with installed files
  | 'VM_UNAVAILABLE' // no kernel / VMM to boot with (exit 3)
  | 'INTERNAL' // a helper thread of the tool failed or stopped answering
  | 'S3'; // S3 operation failed

/** Exit codes, documented in docs/exit-codes.md. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, VM_UNAVAILABLE: 3 } as const;

/**
 * Facts about an error, for callers to act on. Library code never names a command-line
 * flag: an option is named by its library name (`size`, `imagesDir`), in `option` and as
 * `{size}` in a hint, and each front end words it (the CLI as `--size`).
 */
export interface ErrorFacts {
  /** The option whose value is at fault (library name: `size`, `output`, `imagesDir`…). */
  option?: string;
  /** The local file or directory concerned. */
  path?: string;
  /** The image layer concerned, 1-based, bottom first. */
  layer?: number;
  /** The digest concerned (`sha256:…`). */
  digest?: string;
  /**
   * What to do next. `{name}` stands for the option `name`: "choose a larger {size}".
   * Rendered with plain option names in `message`, with flags by the CLI.
   */
  hint?: string;
}

export class InfraError extends Error implements ErrorFacts {
  readonly code: ErrorCode;
  /** What went wrong, without the hint. */
  readonly detail: string;
  declare readonly option?: string;
  declare readonly path?: string;
  declare readonly layer?: number;
  declare readonly digest?: string;
  declare readonly hint?: string;

  constructor(code: ErrorCode, detail: string, options: ErrorFacts & { cause?: unknown } = {}) {
    const { cause, ...facts } = options;
    super(joinHint(detail, facts.hint, (name) => `the ${name} option`), cause === undefined ? undefined : { cause });
    this.name = 'InfraError';
    this.code = code;
    this.detail = detail;
    for (const key of ['option', 'path', 'layer', 'digest', 'hint'] as const) {
      if (facts[key] !== undefined) Object.defineProperty(this, key, { value: facts[key], enumerable: true });
    }
  }

  get exitCode(): number {
    if (this.code === 'USAGE') return EXIT.USAGE;
    if (this.code === 'VM_UNAVAILABLE') return EXIT.VM_UNAVAILABLE;
    return EXIT.FAILED;
  }

  /** The message with options worded by `option` (the CLI passes `size` → `--size`). */
  render(option: (name: string) => string): string {
    return joinHint(this.detail, this.hint, option);
  }

  /** The same error with more facts (a layer index, a digest) added by an outer caller. */
  with(facts: Omit<ErrorFacts, 'hint'>): InfraError {
    const copy = new InfraError(this.code, this.detail, { ...this.facts(), ...facts, cause: this.cause });
    copy.stack = this.stack;
    return copy;
  }

  private facts(): ErrorFacts {
    const { option, path, layer, digest, hint } = this;
    return Object.fromEntries(Object.entries({ option, path, layer, digest, hint }).filter(([, v]) => v !== undefined));
  }
}

/** `detail: hint`, with each `{name}` in the hint worded by `option`. */
function joinHint(detail: string, hint: string | undefined, option: (name: string) => string): string {
  if (!hint) return detail;
  const worded = hint.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, (_, name: string) => option(name));
  return `${detail.replace(/[.:;]$/, '')}: ${worded}`;
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

/**
 * The one progress channel of the library's long operations (`buildRootfs`, `createRootfs`,
 * `uploadRootfs`, `downloadRootfs`): facts as they happen. Front ends word and draw them
 * (the CLI: src/cli/progress.ts); the library never prints.
 */
export type ProgressEvent<Step extends string = string> =
  /** A step of the operation starts (each operation names its steps, in order). */
  | { type: 'step'; step: Step; facts?: StepFacts }
  /** Compressed bytes of layer `layer` (0-based) fetched so far, of `total`. */
  | { type: 'pull'; layer: number; bytes: number; total: number }
  /** File bytes written into the ext4 file so far, while layer `layer` of `layers` is applied. */
  | { type: 'write'; layer: number; layers: number; bytes: number }
  /** Bytes of an S3 upload or download moved so far, of `total`. */
  | { type: 'transfer'; bytes: number; total: number }
  /** The ext4 file's size, once known (for `size: 'auto'`, the size chosen). */
  | { type: 'size'; bytes: number; auto: boolean }
  /** Something the user should know that does not stop the work (e.g. ENV entries left out). */
  | { type: 'warning'; text: string };

/** What is known when a step starts, where the step has something to count. */
export interface StepFacts {
  /** The image reference pulled (aliases resolved: `debian` → `debian:bookworm-slim`). */
  reference?: string;
  /** Package repositories read. */
  repositories?: number;
  /** Packages to fetch or unpack. */
  packages?: number;
  /** Bytes to fetch. */
  bytes?: number;
}

export type OnProgress<Step extends string = string> = (event: ProgressEvent<Step>) => void;

/** The events a transfer emits. */
export type TransferEvent = Extract<ProgressEvent, { type: 'transfer' | 'warning' }>;

/** How a transfer reports its progress; the CLI draws it (src/cli/progress.ts). */
export interface Progress {
  update(doneBytes: number): void;
  finish(): void;
}

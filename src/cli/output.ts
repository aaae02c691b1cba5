/**
 * How commands talk: progress lines on stdout (stderr under --json, nothing under
 * --quiet), one JSON document on stdout under --json, errors always on stderr.
 */
export interface Output {
  info(line: string): void;
  warn(line: string): void;
  /** The command's machine-readable result: printed only under --json. */
  result(doc: object): void;
}

export function output(flags: { quiet?: boolean; json?: boolean }): Output {
  const infoStream = flags.json ? process.stderr : process.stdout;
  return {
    info: (line) => {
      if (!flags.quiet) infoStream.write(`${line}\n`);
    },
    warn: (line) => process.stderr.write(`Warning: ${line}\n`),
    result: (doc) => {
      if (flags.json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    },
  };
}

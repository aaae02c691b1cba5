/**
 * The guest runner protocol, host side (docs/guest-runner.md): the job disk the host
 * makes (a raw ustar archive on the VM's second disk) and the console lines the runner
 * prints (a ready line, then one JSON result between two marker lines).
 */
import { InfraError } from '../errors.js';
import { writeTar } from '../tar/writer.js';

/** Console lines, printed by the runner (guest-runner.ts uses these same constants). */
export const READY_LINE = 'infra.operator guest: ready';
export const RESULT_BEGIN = '----- infra.operator result begin -----';
export const RESULT_END = '----- infra.operator result end -----';

/** Job archive members (the runner reads them from the extracted archive). */
export const JOB_MEMBERS = {
  /** key=value lines: lang, timeout, max_output, file, poweroff. */
  manifest: 'manifest',
  /** The program text, saved as the language's file name (main.py…) in the job directory. */
  code: 'code',
  /** Optional: a sh script run instead of the language's command; $1 = the code file. */
  command: 'command',
  /** Optional: files copied into the job directory. */
  files: 'files/',
} as const;

export interface JobSpec {
  lang: string;
  code: string | Buffer;
  command?: string;
  files?: ReadonlyMap<string, Buffer>;
  /** Seconds the program may run. */
  timeout: number;
  /** Bytes kept of stdout and of stderr each. */
  maxOutput?: number;
  /** Code file name; default from the language table (main.py, Main.java…). */
  file?: string;
  poweroff: boolean;
}

/** The runner's result line (field names as the seed's `host` command prints them). */
export interface JobResult {
  status: 'success' | 'error' | 'timeout';
  stdout: string;
  stderr: string | null;
  exitCode: number | null;
  exception: string | null;
  executionTime: number;
  truncated: boolean;
}

const SAFE_VALUE = /^[A-Za-z0-9_.+#-]*$/;

function manifest(job: JobSpec): string {
  const fields: Array<[string, string]> = [
    ['version', '1'],
    ['lang', job.lang],
    ['timeout', String(job.timeout)],
    ['poweroff', job.poweroff ? '1' : '0'],
  ];
  if (job.maxOutput !== undefined) fields.push(['max_output', String(job.maxOutput)]);
  if (job.file !== undefined) fields.push(['file', job.file]);
  for (const [key, value] of fields) {
    if (!SAFE_VALUE.test(value)) throw new InfraError('USAGE', `Invalid job ${key}: ${JSON.stringify(value)}.`);
  }
  if (!Number.isInteger(job.timeout) || job.timeout <= 0) throw new InfraError('USAGE', `--timeout must be a whole number of seconds above 0.`);
  return fields.map(([k, v]) => `${k}=${v}\n`).join('');
}

/** The job disk: a ustar archive (whole 512-byte sectors), read by the guest's own `tar`. */
export function jobArchive(job: JobSpec): Buffer {
  const members: Array<[string, Buffer]> = [
    [JOB_MEMBERS.manifest, Buffer.from(manifest(job))],
    [JOB_MEMBERS.code, Buffer.isBuffer(job.code) ? job.code : Buffer.from(job.code, 'utf8')],
  ];
  if (job.command !== undefined) members.push([JOB_MEMBERS.command, Buffer.from(job.command, 'utf8')]);
  for (const [name, data] of job.files ?? []) {
    if (name.split('/').some((c) => c === '' || c === '.' || c === '..')) {
      throw new InfraError('USAGE', `Job file names must be relative paths without . or .. parts: ${name}`);
    }
    members.push([`${JOB_MEMBERS.files}${name}`, data]);
  }
  // No PAX headers: a minimal busybox tar in the guest may not read them. Names are
  // stored as UTF-8; fixed mode 0644, owner 0 and time 0 keep the bytes the same per job.
  return writeTar(members.map(([name, data]) => ({ path: Buffer.from(name, 'utf8').toString('latin1'), data })));
}

/**
 * Follows the console as lines arrive: notices the ready line and picks the result
 * JSON out from between the markers (other writers, e.g. a getty prompt, may print
 * lines in between; the result is the line that parses).
 */
export class ConsoleWatcher {
  ready = false;
  result: JobResult | undefined;
  private inResult = false;
  private partial = '';
  private readonly tail: string[] = [];

  /** Feeds console bytes; returns nothing, updates `ready` and `result`. */
  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const raw of lines) this.line(raw.replace(/\r/g, ''));
  }

  /** The last console lines, for error messages. */
  lastLines(n = 15): string {
    return this.tail.slice(-n).join('\n');
  }

  private line(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 200) this.tail.shift();
    // endsWith: a console prompt (getty, askfirst) may share the line.
    if (line.endsWith(READY_LINE)) this.ready = true;
    else if (line.endsWith(RESULT_BEGIN)) this.inResult = true;
    else if (line.endsWith(RESULT_END)) this.inResult = false;
    else if (this.inResult && this.result === undefined && line.startsWith('{')) {
      try {
        this.result = parseResult(line);
      } catch {
        // not the result line; keep looking until the end marker
      }
    }
  }
}

/** Parses and checks the result line's fields. */
export function parseResult(line: string): JobResult {
  const value = JSON.parse(line) as Record<string, unknown>;
  const okStatus = value.status === 'success' || value.status === 'error' || value.status === 'timeout';
  const okFields =
    typeof value.stdout === 'string' &&
    (value.stderr === null || typeof value.stderr === 'string') &&
    (value.exitCode === null || typeof value.exitCode === 'number') &&
    (value.exception === null || typeof value.exception === 'string') &&
    typeof value.executionTime === 'number' &&
    typeof value.truncated === 'boolean';
  if (!okStatus || !okFields) throw new InfraError('ROOTFS', `Malformed result from the guest runner: ${line.slice(0, 200)}`);
  return value as unknown as JobResult;
}

/**
 * The guest runner protocol, host side (docs/guest-runner.md): the job disk the host
 * makes (a raw ustar archive on the VM's second disk) and the console lines the runner
 * prints (a ready line, then one JSON result between two marker lines that carry the
 * run's secret).
 */
import { randomBytes } from 'node:crypto';
import { InfraError } from '../errors.js';
import { writeTar } from '../tar/writer.js';

/** Console lines, printed by the runner (runner-script.ts uses these same constants). */
export const READY_LINE = 'infra.operator guest: ready';
/** Printed when the job is unpacked and about to start (the host's "job running" progress). */
export const RUNNING_LINE = 'infra.operator guest: running the job';
export const RESULT_BEGIN = '----- infra.operator result begin -----';
export const RESULT_END = '----- infra.operator result end -----';

/** Job archive members (the runner reads them from the extracted archive). */
export const JOB_MEMBERS = {
  /** The run's secret: the archive's first member, so its bytes sit in SECRET_SECTOR. */
  secret: 'secret',
  /** key=value lines: lang, timeout, max_output, file, user, poweroff. */
  manifest: 'manifest',
  /** The program text, saved as the language's file name (main.py…) in the job directory. */
  code: 'code',
  /** Optional: a sh script run instead of the language's command; $1 = the code file. */
  command: 'command',
  /** Optional: files copied into the job directory. */
  files: 'files/',
} as const;

/** The 512-byte sector of the job disk holding the secret's bytes; the runner zeroes it. */
export const SECRET_SECTOR = 1;

/**
 * Defaults and bounds of a job. The timeout's maximum keeps every host deadline far below
 * Node's timer limit (2^31 - 1 ms, about 24.8 days); the output's keeps the result line
 * (up to 12 characters per byte, twice) a string V8 can hold.
 */
export const JOB_LIMITS = {
  defaultTimeout: 60,
  maxTimeout: 86_400,
  defaultMaxOutput: 1_048_576,
  maxMaxOutput: 16 * 1_048_576,
} as const;

export interface JobSpec {
  lang: string;
  code: string | Buffer;
  command?: string;
  files?: ReadonlyMap<string, Buffer>;
  /** Seconds the program may run, 1 to JOB_LIMITS.maxTimeout. */
  timeout: number;
  /** Bytes kept of stdout and of stderr each (default JOB_LIMITS.defaultMaxOutput). */
  maxOutput?: number;
  /** Code file name; default from the language table (main.py, Main.java…). */
  file?: string;
  /** Run as this user (name, uid, name:group or uid:gid) instead of the image's USER. */
  user?: string;
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

/** A fresh per-run secret: 64 hex digits. */
export function newSecret(): string {
  return randomBytes(32).toString('hex');
}

/** The marker lines of a result printed by the runner that was given `secret`. */
export function resultMarkers(secret: string): { begin: string; end: string } {
  return { begin: `${RESULT_BEGIN} ${secret}`, end: `${RESULT_END} ${secret}` };
}

/** The longest result line a job with this max_output can produce, in characters. */
export function maxResultLine(maxOutput: number = JOB_LIMITS.defaultMaxOutput): number {
  // Each byte is at most one 6-character \u escape (a 4-byte UTF-8 sequence is two: 12
  // for 4 bytes); stdout and stderr each; plus the other fields and the exception text.
  return 2 * 6 * maxOutput + 65_536;
}

const SAFE_VALUE = /^[A-Za-z0-9_.+#-]*$/;
/** name, uid, name:group or uid:gid (docs/guest-runner.md, "How a job runs"). */
const USER_SPEC = /^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/;

/** Refuses a job the runner could not run as asked; call before any other work. */
export function checkJob(job: Omit<JobSpec, 'poweroff'>): void {
  const { maxTimeout, maxMaxOutput } = JOB_LIMITS;
  if (!Number.isInteger(job.timeout) || job.timeout <= 0 || job.timeout > maxTimeout) {
    throw new InfraError('USAGE', `The job's timeout must be a whole number of seconds from 1 to ${maxTimeout}, not ${job.timeout}.`, { option: 'timeout', hint: 'set {timeout} within that range' });
  }
  const maxOutput = job.maxOutput ?? JOB_LIMITS.defaultMaxOutput;
  if (!Number.isInteger(maxOutput) || maxOutput < 0 || maxOutput > maxMaxOutput) {
    throw new InfraError('USAGE', `The job's output limit must be a whole number of bytes from 0 to ${maxMaxOutput}, not ${maxOutput}.`, { option: 'maxOutput', hint: 'set {maxOutput} within that range' });
  }
  if (job.user !== undefined && !USER_SPEC.test(job.user)) {
    throw new InfraError('USAGE', `The job's user must be a name or uid, optionally with :group or :gid, not ${JSON.stringify(job.user)}.`, { option: 'user', hint: 'e.g. {user} nobody or {user} 1000:1000' });
  }
}

function manifest(job: JobSpec): string {
  checkJob(job);
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
  if (job.user !== undefined) fields.push(['user', job.user]);
  return fields.map(([k, v]) => `${k}=${v}\n`).join('');
}

/**
 * The job disk: a ustar archive (whole 512-byte sectors), read by the guest's own `tar`. The secret goes first,
 * so that its bytes are in SECRET_SECTOR for the runner to wipe.
 */
export function jobArchive(job: JobSpec, secret: string): Buffer {
  if (!/^[0-9a-f]{32,128}$/.test(secret)) throw new InfraError('USAGE', 'The job secret must be 32 to 128 lowercase hex digits (newSecret()).');
  const members: Array<[string, Buffer]> = [
    [JOB_MEMBERS.secret, Buffer.from(secret, 'ascii')],
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

/** Characters of each console line kept for error messages. */
const TAIL_LINE_CHARS = 4096;

/**
 * Follows the console as lines arrive: notices the ready and running lines and picks the result
 * JSON out from between the markers that carry this run's secret (other writers, e.g. a
 * getty prompt, may print lines in between; the result is the line that parses). Marker
 * lines without the secret are the job's or someone else's: ignored. A line longer than
 * `maxLine` characters is dropped unread, so a guest printing without a newline cannot
 * exhaust the host's memory.
 */
export class ConsoleWatcher {
  ready = false;
  /** The runner printed RUNNING_LINE after its ready line: the job has started. */
  running = false;
  result: JobResult | undefined;
  private inResult = false;
  private readonly markers: { begin: string; end: string };
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overlong = false;
  private readonly tail: string[] = [];

  constructor(
    secret: string,
    private readonly maxLine = maxResultLine(),
  ) {
    this.markers = resultMarkers(secret);
  }

  /** Feeds console bytes; returns nothing, updates `ready` and `result`. */
  push(chunk: Buffer): void {
    let from = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
      this.take(chunk.subarray(from, nl));
      if (!this.overlong) this.line(Buffer.concat(this.pending).toString('utf8').replace(/\r/g, ''));
      this.pending = [];
      this.pendingBytes = 0;
      this.overlong = false;
      from = nl + 1;
    }
    this.take(chunk.subarray(from));
  }

  /** The last console lines, for error messages. */
  lastLines(n = 15): string {
    return this.tail.slice(-n).join('\n');
  }

  /** Keeps a piece of the current line (a copy: the chunk's buffer may be reused). */
  private take(piece: Buffer): void {
    if (this.overlong || piece.length === 0) return;
    this.pendingBytes += piece.length;
    if (this.pendingBytes > this.maxLine) {
      this.overlong = true;
      this.pending = [];
      this.remember(`[console line of more than ${this.maxLine} bytes dropped]`);
      return;
    }
    this.pending.push(Buffer.from(piece));
  }

  private remember(line: string): void {
    this.tail.push(line.slice(0, TAIL_LINE_CHARS));
    if (this.tail.length > 200) this.tail.shift();
  }

  private line(line: string): void {
    this.remember(line);
    // endsWith: a console prompt (getty, askfirst) may share the line.
    if (line.endsWith(READY_LINE)) this.ready = true;
    else if (this.ready && line.endsWith(RUNNING_LINE)) this.running = true;
    else if (line.endsWith(this.markers.begin)) this.inResult = true;
    else if (line.endsWith(this.markers.end)) this.inResult = false;
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

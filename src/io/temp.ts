/**
 * Temporary files, the one mechanism for every file the tool creates: a file is written
 * under a temporary name beside (or near) its final path and renamed onto it when complete,
 * so a reader never sees half a file and a planted symlink is never followed.
 *
 * A temporary name is `.<final base name>.<16 random hex>.<host name>.<pid>.tmp`:
 * - unpredictable (64 random bits), so nobody can plant a symlink at it in advance;
 * - created with O_CREAT|O_EXCL|O_NOFOLLOW (open(2)), so a file or symlink already at the
 *   name is never opened: the open fails with EEXIST and a new name is drawn;
 * - recognisably ours, with the host and pid of its writer, so that a later run can remove
 *   the leftovers of a process of this host that has died (`sweepStaleTemporaries`).
 * The final path is replaced by rename(2), which replaces a symlink there, never its target.
 *
 * Every temporary this process creates is in a process-wide registry until it is renamed or
 * removed; `removeOwnTemporaries()` removes them synchronously (for signal handlers).
 */
import { randomBytes } from 'node:crypto';
import { constants, rmSync, unlinkSync, type Dir } from 'node:fs';
import { lstat, mkdtemp, open, opendir, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** Files are readable by all (images are booted by other users, e.g. Firecracker's jailer). */
const DEFAULT_MODE = 0o644;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Names drawn before giving up: a collision of 64 random bits means someone is guessing. */
const CREATE_ATTEMPTS = 8;
/** The base name part is cut to this many bytes, keeping the whole name under NAME_MAX (255). */
const MAX_BASE_CHARS = 120;
const MAX_HOST_CHARS = 64;
/** A sweep looks at this many directory entries at most: a huge directory must not hang a run. */
export const SWEEP_MAX_ENTRIES = 100_000;

/** This host, as it appears in temporary names: only [A-Za-z0-9.-], at most 64 characters. */
export const TEMP_HOST = (hostname() || 'localhost').replace(/[^A-Za-z0-9.-]/g, '_').slice(0, MAX_HOST_CHARS);

/** `.<base>.<hex>.<host>.<pid>.tmp`; the base and host may hold dots, the hex and pid cannot. */
const TEMP_NAME = /^\.(.+)\.([0-9a-f]{16})\.([A-Za-z0-9._-]+)\.([1-9][0-9]{0,9})\.tmp$/;

/** Live temporaries of this process: absolute path → what to remove. */
const live = new Map<string, 'file' | 'directory'>();

/** A fresh temporary name for `finalPath`, in `dir` (default: beside it). */
export function temporaryName(finalPath: string, dir = dirname(finalPath)): string {
  const base = basename(finalPath).slice(0, MAX_BASE_CHARS);
  return resolve(dir, `.${base}.${randomBytes(8).toString('hex')}.${TEMP_HOST}.${process.pid}.tmp`);
}

/** The writer's host and pid when `name` is one of our temporary names. */
export function parseTemporaryName(name: string): { host: string; pid: number } | undefined {
  const m = TEMP_NAME.exec(name);
  return m ? { host: m[3]!, pid: Number(m[4]) } : undefined;
}

/** An open, exclusively created temporary file that becomes `finalPath` on commit. */
export class TemporaryFile {
  private closed = false;
  private settled = false;

  private constructor(
    readonly path: string,
    readonly finalPath: string,
    readonly handle: FileHandle,
  ) {}

  /**
   * Creates the temporary file for `finalPath` (in `dir` when given, which must be on the
   * same file system). Errors are node:fs errors (the caller says what they mean).
   */
  static async create(finalPath: string, options: { dir?: string; mode?: number } = {}): Promise<TemporaryFile> {
    for (let attempt = 1; ; attempt++) {
      const path = temporaryName(finalPath, options.dir);
      try {
        const handle = await open(path, CREATE_FLAGS, options.mode ?? DEFAULT_MODE);
        // Registered once ours: a signal landing while open(2) runs in the thread pool can
        // leave this one file, which the next run's sweep removes (its pid is then dead).
        live.set(path, 'file');
        return new TemporaryFile(path, resolve(finalPath), handle);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= CREATE_ATTEMPTS) throw err;
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  /** Closes the file and renames it onto the final path; on failure the temporary is removed. */
  async commit(): Promise<void> {
    try {
      await this.close();
      await rename(this.path, this.finalPath);
      this.settled = true;
      live.delete(this.path);
    } catch (err) {
      await this.discard();
      throw err;
    }
  }

  /** Closes and removes the temporary file (nothing happens after a commit). */
  async discard(): Promise<void> {
    await this.close().catch(() => {});
    if (this.settled) return;
    this.settled = true;
    await rm(this.path, { force: true });
    live.delete(this.path);
  }
}

/** Writes `data` to `finalPath` through a temporary file: all of it appears, or nothing. */
export async function writeFileReplacing(finalPath: string, data: string | Buffer, options: { mode?: number } = {}): Promise<void> {
  const file = await TemporaryFile.create(finalPath, options);
  try {
    await file.handle.writeFile(data);
    await file.commit();
  } catch (err) {
    await file.discard();
    throw err;
  }
}

/** A private directory (mode 0700, mkdtemp(3)) under the system's temporary directory, registered like a file. */
export async function temporaryDirectory(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  live.set(path, 'directory');
  return {
    path,
    remove: async () => {
      await rm(path, { recursive: true, force: true });
      live.delete(path);
    },
  };
}

/**
 * Removes every temporary this process created and has not yet renamed or removed.
 * Synchronous, so a signal handler can call it just before exiting.
 */
export function removeOwnTemporaries(): void {
  for (const [path, kind] of live) {
    try {
      if (kind === 'directory') rmSync(path, { recursive: true, force: true });
      else unlinkSync(path);
    } catch {
      // Already gone, or not ours to remove any more: nothing else to do on the way out.
    }
    live.delete(path);
  }
}

/** The temporaries this process holds now (tests check that none is left behind). */
export function ownTemporaries(): string[] {
  return [...live.keys()];
}

/**
 * Removes, from `dir`, the temporary files of processes of this host that no longer exist
 * (left by a crash, a SIGKILL or a power cut). Keeps other hosts' (a shared directory: their
 * pids mean nothing here), live processes', symlinks and anything not a regular file.
 * Looks at SWEEP_MAX_ENTRIES entries at most. Returns the paths removed; never throws.
 */
export async function sweepStaleTemporaries(dir: string, maxEntries = SWEEP_MAX_ENTRIES): Promise<string[]> {
  const removed: string[] = [];
  let entries: Dir;
  try {
    entries = await opendir(dir);
  } catch {
    return removed;
  }
  let seen = 0;
  try {
    // for-await closes the directory when the loop ends, breaks off or throws.
    for await (const entry of entries) {
      if (++seen > maxEntries) break;
      const owner = parseTemporaryName(entry.name);
      if (!owner || owner.host !== TEMP_HOST || processExists(owner.pid)) continue;
      const path = join(dir, entry.name);
      // lstat: a symlink is not followed, and is not ours to remove.
      const info = await lstat(path).catch(() => undefined);
      if (!info?.isFile()) continue;
      await unlink(path).then(
        () => removed.push(path),
        () => {},
      );
    }
  } catch {
    // An unreadable directory entry ends the sweep: it is housekeeping, not the command's work.
  }
  return removed;
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
function processExists(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Errors of the local file system (Node's `err.code`, errno names from errno(3)) turned
 * into InfraErrors that say what to do: the one mapping every file read and write uses.
 */
import { InfraError, type ErrorCode } from '../errors.js';

/** What went wrong, by the advice it needs. */
export type FsProblem = 'missing' | 'denied' | 'full' | 'other';

const PROBLEMS: Record<string, FsProblem> = {
  ENOENT: 'missing',
  EACCES: 'denied',
  EPERM: 'denied',
  EROFS: 'denied',
  ENOSPC: 'full',
  EDQUOT: 'full',
  EFBIG: 'full',
};

export interface FsErrorContext {
  /** The file or directory the operation was on. */
  path: string;
  /** What the path is, when the message reads better saying it (`images directory`). */
  what?: string;
  action: 'read' | 'write' | 'create' | 'move';
  /** The code of a failure: `DISK` (default) for the tool's files, `INPUT` for files the user gave. */
  code?: Extract<ErrorCode, 'DISK' | 'INPUT'>;
  /**
   * What to do, per problem (a hint: `{output}` names an option, see ErrorFacts); `other`
   * covers any problem not named. A `missing` entry is the detail of a NOT_FOUND error,
   * whose hint is the `other` entry.
   */
  advice?: Partial<Record<FsProblem, string>>;
  /** The option that chose the path, when one did (`output`, `imagesDir`). */
  option?: string;
}

export function fsProblem(err: unknown): FsProblem {
  return PROBLEMS[(err as NodeJS.ErrnoException | null)?.code ?? ''] ?? 'other';
}

/** `err` (from node:fs) as an InfraError naming the path, the action and the advice. */
export function fsError(err: unknown, context: FsErrorContext): InfraError {
  const problem = fsProblem(err);
  const missing = problem === 'missing' ? context.advice?.missing : undefined;
  const facts = { path: context.path, cause: err, ...(context.option ? { option: context.option } : {}) };
  if (missing !== undefined) return new InfraError('NOT_FOUND', missing, { ...facts, ...(context.advice?.other ? { hint: context.advice.other } : {}) });
  const advice = context.advice?.[problem] ?? context.advice?.other;
  const message = `Cannot ${context.action} ${context.what ? `${context.what} ` : ''}${context.path}: ${(err as Error).message}`;
  return new InfraError(context.code ?? 'DISK', message, { ...facts, ...(advice === undefined ? {} : { hint: advice }) });
}

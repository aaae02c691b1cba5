/**
 * Test prerequisites. Locally a missing tool or fixture skips the test with a one-line
 * reason; under INFRA_OPERATOR_REQUIRE_ALL=1 (CI) it fails instead.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REQUIRE_ALL = process.env.INFRA_OPERATOR_REQUIRE_ALL === '1';
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = resolve(REPO, '..', 'shared');
/** The x86_64 minirootfs: the layer of the embedded default image (fixtures/README.md), Alpine's file byte for byte. */
export const ALPINE_X86 = join(REPO, 'fixtures/alpine-3.20/blobs/sha256/d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c');
/** The embedded default image, as the README's first command names it. */
export const ALPINE_LAYOUT = join(REPO, 'fixtures/alpine-3.20');
export const ALPINE_ARM = join(SHARED, 'fixtures/alpine/alpine-minirootfs-3.20.3-aarch64.tar.gz');
export const CLI = join(REPO, 'bin/infra.operator.js');

interface Skippable {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  skip(...args: any[]): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  fail(...args: any[]): unknown;
}

const PATHS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/bin', '/usr/local/sbin'];

/** Absolute path of a tool, or undefined. */
export function which(tool: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...PATHS]) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

/**
 * True when every listed tool and file is present. Otherwise skips `t` (locally) or fails
 * it (CI) with one line naming what is missing, and returns false.
 */
export function prerequisites(t: Skippable, needs: { tools?: string[]; files?: string[]; root?: boolean }): boolean {
  const missing = [
    ...(needs.root && process.getuid?.() !== 0 ? ['root (the test makes device nodes and sets capabilities)'] : []),
    ...(needs.tools ?? []).filter((tool) => !which(tool)).map((tool) => `tool ${tool}`),
    ...(needs.files ?? []).filter((f) => !existsSync(f)).map((f) => `file ${f}`),
  ];
  if (missing.length === 0) return true;
  const reason = `missing ${missing.join(', ')} (.ci/run installs it)`;
  if (REQUIRE_ALL) t.fail(reason);
  else t.skip(reason);
  return false;
}

/** A temporary directory removed at teardown. */
export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'infra-op-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface FsckResult {
  ok: boolean;
  output: string;
}

/**
 * e2fsck -fn: exit 0 AND nothing in its output that reports a problem ("Fix? no",
 * "Clear? no", …). e2fsck can exit 0 while printing such lines.
 */
export function fsck(image: string): FsckResult {
  const r = spawnSync(which('e2fsck') ?? 'e2fsck', ['-fn', image], { encoding: 'utf8', timeout: 300_000 });
  const output = `${r.stdout}${r.stderr}`;
  const complaint = /\? no|\?  no|Fix|Clear|Salvage|Relocate|Recreate|Optimize|WARNING|error|corrupt/i;
  const body = output
    .split('\n')
    .filter((l) => !/^e2fsck \d|^Pass \d|^\S+: \d+\/\d+ files|^$/.test(l));
  const ok = r.status === 0 && !body.some((l) => complaint.test(l));
  return { ok, output };
}

/** e2fsck -fp on a copy: exit 0 means it had nothing to change. */
export function fsckPreen(image: string, scratchDir: string): FsckResult {
  const copy = join(scratchDir, `preen-${Date.now()}.img`);
  execFileSync('cp', ['--sparse=always', image, copy]);
  const r = spawnSync(which('e2fsck') ?? 'e2fsck', ['-fp', copy], { encoding: 'utf8', timeout: 300_000 });
  rmSync(copy, { force: true });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** Runs debugfs read-only with one request and returns stdout. */
export function debugfs(image: string, request: string): string {
  const r = spawnSync(which('debugfs') ?? 'debugfs', ['-R', request, image], {
    encoding: 'latin1',
    timeout: 120_000,
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`debugfs -R '${request}' failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * Mounts an image read-only through a loop device so the kernel itself reads it (the
 * strongest judge there is). Returns the mount point, or undefined (after skipping or
 * failing `t`) where loop mounts are not possible. Unmounted at teardown.
 */
export function mountReadOnly(t: Skippable & { teardown(fn: () => void): void }, image: string): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'infra-op-mnt-'));
  const r = spawnSync('mount', ['-o', 'loop,ro', '-t', 'ext4', image, dir], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const reason = `cannot loop-mount (${(r.stderr || r.error?.message || '').trim()}): needs root and loop devices`;
    if (REQUIRE_ALL) t.fail(reason);
    else t.skip(reason);
    return undefined;
  }
  t.teardown(() => {
    spawnSync('umount', [dir], { timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

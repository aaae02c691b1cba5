/** The chunked sha256 of an image computed by the tools, independently of src/io/digest.ts. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * S3's composite SHA-256 of a multipart upload in 16 MiB parts, computed by the tools:
 * `split -b 16M` into parts, `sha256sum` of each, the binary digests concatenated and
 * hashed again. Returns the hex value and the part count.
 */
export function compositeSha256Of(path: string): { hex: string; parts: number } {
  const dir = mkdtempSync(join(tmpdir(), 'infra-op-split-'));
  try {
    execFileSync('split', ['-b', '16M', '-a', '4', path, join(dir, 'part.')]);
    const parts = readdirSync(dir).sort().map((f) => join(dir, f));
    const sums = execFileSync('sha256sum', parts, { encoding: 'utf8' });
    const digests = sums.trim().split('\n').map((line) => Buffer.from(line.slice(0, 64), 'hex'));
    return { hex: createHash('sha256').update(Buffer.concat(digests)).digest('hex'), parts: parts.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}


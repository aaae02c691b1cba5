/** Building images from hand-made trees, and reading them back with e2fsprogs. */
import type { Test } from 'tap';
import { Ext4Writer, type Ext4Summary, type WriterOptions } from '../../src/ext4/writer.js';
import { type DirInode, type Inode, type InodeMeta, type Timestamp, makeRoot, toolMeta } from '../../src/tree/tree.js';
import { debugfs, fsck, fsckPreen } from './env.js';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const T0: Timestamp = { sec: 1700000000, nsec: 0 };

export const meta = (mode: number, extra: Partial<InodeMeta> = {}): InodeMeta => ({ ...toolMeta(mode, T0), ...extra });

export async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield p;
}

export interface Built extends Ext4Summary {
  root: DirInode;
}

/** Writes the tree that `fill` makes into DIR/NAME.img. */
export async function build(
  dir: string,
  name: string,
  fill: (w: Ext4Writer, root: DirInode) => Promise<void>,
  options: Partial<WriterOptions> = {},
): Promise<Built> {
  const w = await Ext4Writer.create(join(dir, `${name}.img`), { size: 64, contentKey: name, time: T0, ...options });
  const root = makeRoot(T0);
  try {
    await fill(w, root);
  } catch (err) {
    await w.abort();
    throw err;
  }
  return { ...(await w.finish(root)), root };
}

export async function file(w: Ext4Writer, data: Buffer | string, m: Partial<InodeMeta> & { mode?: number } = {}): Promise<Inode> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return { kind: 'file', ...meta(m.mode ?? 0o644, m), content: await w.writeFile(chunks(bytes), bytes.length) };
}

export function dir(m: Partial<InodeMeta> & { mode?: number } = {}): DirInode {
  return { kind: 'dir', ...meta(m.mode ?? 0o755, m), children: new Map() };
}

type Asserter = Pick<Test, 'ok' | 'same' | 'equal'>;

/** e2fsck -fn clean (exit 0, no complaint) and e2fsck -fp on a copy changes nothing. */
export function assertClean(t: Asserter, image: string, scratch: string): void {
  const n = fsck(image);
  t.ok(n.ok, 'e2fsck -fn finds nothing', { output: n.output });
  const p = fsckPreen(image, scratch);
  t.ok(p.ok, 'e2fsck -fp on a copy changes nothing', { output: p.output });
}

export interface Stat {
  inode: number;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  blockcount: number;
  flags: number;
  fileAcl: number;
  /** Raw (low 32 bits, extra) pairs as debugfs prints them in hex. */
  times: Record<'ctime' | 'atime' | 'mtime', [number, number]>;
  device?: [number, number];
  fastLink?: string;
  extents: string;
  raw: string;
}

const num = (raw: string, re: RegExp) => Number((re.exec(raw) ?? [])[1] ?? NaN);

export function stat(image: string, path: string): Stat {
  const raw = debugfs(image, `stat "${path}"`);
  const time = (name: string): [number, number] => {
    const m = new RegExp(`\\b${name}: 0x([0-9a-f]+):([0-9a-f]+)`).exec(raw);
    return m ? [parseInt(m[1]!, 16), parseInt(m[2]!, 16)] : [NaN, NaN];
  };
  const dev = /major\/minor number: (\d+):(\d+)/.exec(raw);
  return {
    inode: num(raw, /Inode: (\d+)/),
    type: (/Type: (\S+)/.exec(raw) ?? [])[1] ?? '',
    mode: parseInt((/Mode:\s+(\d+)/.exec(raw) ?? [])[1] ?? 'NaN', 8),
    uid: num(raw, /User:\s+(-?\d+)/) >>> 0, // debugfs prints ids as signed 32-bit
    gid: num(raw, /Group:\s+(-?\d+)/) >>> 0,
    size: num(raw, /Size: (\d+)/),
    links: num(raw, /Links: (\d+)/),
    blockcount: num(raw, /Blockcount: (\d+)/),
    flags: parseInt((/Flags: 0x([0-9a-f]+)/.exec(raw) ?? [])[1] ?? 'NaN', 16),
    fileAcl: num(raw, /File ACL: (\d+)/),
    times: { ctime: time('ctime'), atime: time('atime'), mtime: time('mtime') },
    device: dev ? [Number(dev[1]), Number(dev[2])] : undefined,
    fastLink: (/Fast link dest: "(.*)"/s.exec(raw) ?? [])[1],
    extents: (/EXTENTS:\n(.*)/.exec(raw) ?? [])[1] ?? '',
    raw,
  };
}

/** File bytes as debugfs dumps them. */
export function cat(image: string, path: string): Buffer {
  return Buffer.from(debugfs(image, `cat "${path}"`), 'latin1');
}

/** `ea_get` of one attribute, as raw bytes (debugfs -V hex dump parsed). */
export function xattrNames(image: string, path: string): string[] {
  const out = debugfs(image, `ea_list "${path}"`);
  return [...out.matchAll(/^\s+(\S+) \(\d+\)/gm)].map((m) => m[1]!);
}

/** One attribute's value bytes (`raw`: as stored, without debugfs's ACL translation). */
export function xattrValue(image: string, path: string, name: string, scratch: string, raw = false): Buffer {
  const out = join(scratch, `xattr-${process.pid}-${Math.random().toString(36).slice(2)}`);
  debugfs(image, `ea_get ${raw ? '-r ' : ''}-f ${out} "${path}" ${name}`);
  return readFileSync(out);
}

/** Runs many debugfs requests in one process; returns each request's output, in order. */
export function debugfsBatch(image: string, requests: string[], scratch: string): string[] {
  const cmd = join(scratch, `cmds-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(cmd, requests.join('\n') + '\n', 'latin1');
  const out = execFileSync('debugfs', ['-f', cmd, image], { encoding: 'latin1', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split(/^debugfs: .*$/m).slice(1);
}

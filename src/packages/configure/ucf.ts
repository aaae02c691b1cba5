/**
 * ucf(1), "update configuration file", as a fresh install runs it: `ucf NEW DEST` puts the
 * package's NEW file at DEST when DEST is not there yet, and records its md5 in
 * `/var/lib/ucf/hashfile` (`MD5  DEST`, as md5sum prints it); `ucfr PKG DEST` records
 * the owner in `/var/lib/ucf/registry` (`PKG \t DEST`). A DEST that exists with other
 * content would need ucf's merge prompt: not handled. ucf's rotated backups
 * (`hashfile.N`, `registry.N`) are not kept.
 */
import { createHash } from 'node:crypto';
import type { CommandHandler } from './commands.js';
import { OK } from './commands.js';
import type { StagedTree } from './staged.js';

const HASHFILE = '/var/lib/ucf/hashfile';
const REGISTRY = '/var/lib/ucf/registry';
const FILE_MODE = 0o644;

export class Ucf {
  private readonly hashes: Array<[md5: string, path: string]>;
  private readonly registry: Array<[pkg: string, path: string]>;

  constructor(private readonly tree: StagedTree) {
    this.hashes = rows(tree.read(HASHFILE), /^(\S+) {2}(.+)$/);
    this.registry = rows(tree.read(REGISTRY), /^(\S+) \t (.+)$/);
  }

  commands(): Map<string, CommandHandler> {
    return new Map<string, CommandHandler>([
      ['ucf', (args) => this.ucf(args)],
      ['ucfr', (args) => this.ucfr(args)],
    ]);
  }

  /** Stages the two files (when ucf was used). */
  stage(): void {
    if (this.hashes.length > 0) this.tree.writeFile(HASHFILE, lines(this.hashes.map(([md5, path]) => `${md5}  ${path}`)), FILE_MODE);
    if (this.registry.length > 0) this.tree.writeFile(REGISTRY, lines(this.registry.map(([pkg, path]) => `${pkg} \t ${path}`)), FILE_MODE);
  }

  private ucf(args: readonly string[]) {
    if (args.length !== 2 || args.some((a) => a.startsWith('-'))) return undefined;
    const [source, dest] = args as [string, string];
    const data = this.tree.read(source);
    if (data === undefined) return undefined;
    const existing = this.tree.read(dest);
    if (existing !== undefined && !existing.equals(data)) return undefined;
    if (existing === undefined) {
      if (this.tree.kind(dest, false) !== undefined) return undefined;
      this.tree.writeFile(dest, data, FILE_MODE);
    }
    const md5 = createHash('md5').update(data).digest('hex');
    replace(this.hashes, dest, [md5, dest]);
    return OK;
  }

  private ucfr(args: readonly string[]) {
    const operands = args.filter((a) => a !== '--force');
    if (operands.length !== 2 || operands.some((a) => a.startsWith('-'))) return undefined;
    const [pkg, dest] = operands as [string, string];
    const owner = this.registry.find(([, path]) => path === dest);
    if (owner !== undefined && owner[0] !== pkg && !args.includes('--force')) return undefined;
    replace(this.registry, dest, [pkg, dest]);
    return OK;
  }
}

/** ucf drops a path's old line and appends the new one. */
function replace<T extends readonly [string, string]>(table: T[], path: string, row: T): void {
  const index = table.findIndex(([, p]) => p === path);
  if (index !== -1) table.splice(index, 1);
  table.push(row);
}

function rows(data: Buffer | undefined, form: RegExp): Array<[string, string]> {
  return (data?.toString('latin1') ?? '').split('\n').flatMap((line) => {
    const match = form.exec(line);
    return match === null ? [] : [[match[1]!, match[2]!] as [string, string]];
  });
}

function lines(list: readonly string[]): Buffer {
  return Buffer.from(list.map((line) => `${line}\n`).join(''), 'latin1');
}

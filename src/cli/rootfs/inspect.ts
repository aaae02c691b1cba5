import { once } from 'node:events';
import type { CommandModule } from 'yargs';
import type { DirectoryEntry } from '../../ext4/reader.js';
import type { RootfsInspection } from '../../api/inspect.js';
import { printable } from '../../errors.js';
import { resolveRootfsPath } from '../../store/paths.js';
import type { Sidecar } from '../../store/sidecar.js';
import { escapeBytes, escapeControls } from '../escape.js';
import { formatMiB } from '../table.js';

interface InspectArgs {
  image: string;
  'images-dir'?: string;
  ls?: string;
  cat?: string;
  sha256: boolean;
  json: boolean;
}

export const inspectCommand: CommandModule<object, InspectArgs> = {
  command: 'inspect <image>',
  describe: 'Show what a rootfs image holds, without mounting it',
  builder: (y) =>
    y
      .example('infra.operator rootfs inspect python', 'size, contents and sidecar of rootfs-python.ext4')
      .positional('image', { type: 'string', describe: 'Name (rootfs-<name>.ext4 in the images directory) or path', demandOption: true })
      .option('images-dir', { type: 'string', describe: 'Local images directory (default $INFRA_OPERATOR_IMAGES_DIR or /srv/firecracker/images)' })
      .option('ls', { type: 'string', describe: 'List a directory inside the image' })
      .option('cat', { type: 'string', describe: 'Print a file inside the image' })
      .option('sha256', { type: 'boolean', default: false, describe: 'Compute the sha256 of the whole image file (reads all of it)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print JSON' })
      .conflicts('ls', 'cat'),
  handler: async (argv) => {
    const path = resolveRootfsPath(argv.image, { imagesDir: argv['images-dir'], orPath: true });
    if (argv.cat !== undefined) return catFile(path, argv.cat);
    if (argv.ls !== undefined) return listDirectory(path, argv.ls, argv.json);
    const { inspectRootfs } = await import('../../api/inspect.js');
    const facts = await inspectRootfs(path, { sha256: argv.sha256 });
    process.stdout.write(argv.json ? `${JSON.stringify(facts, null, 2)}\n` : describe(facts));
  },
};

function describe(f: RootfsInspection): string {
  const fs = f.filesystem;
  const s = f.sidecar;
  const rows: [string, string][] = [['Path', f.path]];
  if (s) {
    rows.push(
      ['Name', s.name],
      ['Source image', s.image],
      ['Source digest', s.digest],
      ...(s.platform ? [['Platform', [s.platform.os, s.platform.architecture, s.platform.variant].filter(Boolean).join('/')] as [string, string]] : []),
      ['Built', `${s.builtAt} by infra.operator ${s.toolVersion}`],
      sidecarDigestRow(s, f.sidecarStale === true),
    );
  } else {
    rows.push(['Sidecar', 'none (source and digest unknown)']);
  }
  if (f.sha256 !== undefined) rows.push(['File sha256', f.sha256]);
  rows.push(
    ['File size', `${formatMiB(f.fileSize)} (${f.fileSize} bytes, ${formatMiB(f.allocatedBytes)} allocated on disk)`],
    ['Filesystem', `${formatMiB(fs.sizeBytes)} in ${fs.blockSize}-byte blocks`],
    ['Used', `${formatMiB(fs.usedBytes)} (${fs.usedBytes} bytes)`],
    ['Free', `${formatMiB(fs.freeBytes)} (${fs.freeBytes} bytes)`],
    ['Inodes', `${fs.inodes.used} used of ${fs.inodes.count} (${fs.inodes.free} free), ${fs.inodeSize} bytes each`],
    ['Features', fs.features.join(' ')],
    ['UUID', fs.uuid],
    ['Volume name', fs.volumeName || '(none)'],
    ['State', fs.state],
  );
  if (fs.createdAt) rows.push(['Created', fs.createdAt]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  // Sidecar fields and the volume name come from files anyone may have written.
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)}${escapeControls(v)}\n`).join('');
}

/** The digest the sidecar records, by its version (docs/store.md). */
function sidecarDigestRow(s: Sidecar, stale: boolean): [string, string] {
  const staleNote = stale ? ' (stale: the image changed after its sidecar was written)' : '';
  if (s.version === 2) return ['Chunked sha256', `${s.chunkedSha256} (${s.chunkSize / 1048576} MiB chunks)${staleNote}`];
  return ['sha256', `${s.sha256}${staleNote}`];
}

async function listDirectory(rootfsPath: string, dir: string, json: boolean): Promise<void> {
  const { withExt4File } = await import('../../ext4/reader.js');
  const entries = await withExt4File(rootfsPath, (image) => image.list(dir));
  process.stdout.write(json ? `${JSON.stringify(entries.map(jsonEntry), null, 2)}\n` : entries.map(lsLine).join(''));
}

/** JSON holds text: names and targets decoded as UTF-8 (JSON.stringify escapes controls). */
function jsonEntry(e: DirectoryEntry): DirectoryEntry {
  return { ...e, name: printable(e.name), ...(e.target !== undefined ? { target: printable(e.target) } : {}) };
}

/** `drwxr-xr-x  0  0  4096  name` (ls -ln columns without dates, which images do not need). */
function lsLine(e: DirectoryEntry): string {
  const name = e.target !== undefined ? `${escapeBytes(e.name)} -> ${escapeBytes(e.target)}` : escapeBytes(e.name);
  return `${e.type}${modeString(e.permissions)}  ${String(e.uid).padStart(5)} ${String(e.gid).padStart(5)}  ${String(e.size).padStart(10)}  ${name}\n`;
}

function modeString(permissions: number): string {
  const triplet = (bits: number, special: boolean, specialLetter: string) => {
    const x = bits & 1 ? (special ? specialLetter : 'x') : special ? specialLetter.toUpperCase() : '-';
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${x}`;
  };
  return (
    triplet((permissions >> 6) & 7, (permissions & 0o4000) !== 0, 's') +
    triplet((permissions >> 3) & 7, (permissions & 0o2000) !== 0, 's') +
    triplet(permissions & 7, (permissions & 0o1000) !== 0, 't')
  );
}

/** Streams the file to stdout with backpressure. */
async function catFile(rootfsPath: string, file: string): Promise<void> {
  // libext2fs (WASM) loads only when an image is opened: other commands should not pay for it.
  const { withExt4File } = await import('../../ext4/reader.js');
  await withExt4File(rootfsPath, async (image) => {
    for await (const chunk of image.read(file)) {
      if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
    }
  });
}

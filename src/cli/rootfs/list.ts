import type { CommandModule } from 'yargs';
import type { LocalRootfs } from '../../store/local.js';
import type { Sidecar } from '../../store/sidecar.js';
import { resolveImagesDir } from '../../store/paths.js';
import type { RemoteRootfs } from '../../store/s3/list.js';
import { DEFAULT_BUCKET_URL, parseBucketUrl } from '../../store/s3/location.js';
import { escapeControls } from '../escape.js';
import { formatMiB, formatUtcMinute, renderTable } from '../table.js';
import { endpointOption } from './upload.js';

interface ListArgs {
  remote: boolean;
  bucket: string;
  'images-dir'?: string;
  endpoint?: string;
  json: boolean;
}

export const listCommand: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'List rootfs images (local, or in S3 with --remote)',
  builder: (y) =>
    y
      .example('infra.operator rootfs list', 'images in the images directory')
      .example('infra.operator rootfs list --remote', 'images in S3')
      .option('remote', { alias: 'r', type: 'boolean', default: false, describe: 'List images from S3' })
      .option('bucket', { alias: 'b', type: 'string', default: DEFAULT_BUCKET_URL, describe: 'S3 bucket[/prefix] (with --remote)' })
      .option('images-dir', { type: 'string', describe: 'Local images directory (default $INFRA_OPERATOR_IMAGES_DIR or /srv/firecracker/images)' })
      .option('endpoint', endpointOption)
      .option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
  handler: async (argv) => {
    if (argv.remote) {
      process.stdout.write(await remoteListing(argv));
      return;
    }
    const { table, notes } = await localListing(argv);
    process.stdout.write(table);
    // Under the table, on stderr: stdout keeps the spec's three columns for scripts.
    if (notes.length > 0) process.stderr.write(`\nNot valid images (they cannot boot; rebuild or remove them):\n${notes.map((n) => `  ${n}\n`).join('')}`);
  },
};

/**
 * A local image; when the file is not a whole ext4 image, why (ext4/reader.ts imageProblem);
 * whether its sidecar describes the file as it is.
 */
type CheckedImage = LocalRootfs & { problem?: string; sidecarCurrent: boolean };

async function localListing(argv: ListArgs): Promise<{ table: string; notes: string[] }> {
  // Loaded on use: --help and --version need none of the store (nor its schemas).
  const { listLocalRootfs } = await import('../../store/local.js');
  const images = await checkImages(await listLocalRootfs(resolveImagesDir({ imagesDir: argv['images-dir'] })));
  for (const image of images) {
    if (image.sidecarProblem) process.stderr.write(`Warning: ${escapeControls(image.sidecarProblem)}\n`);
  }
  if (argv.json) return { table: `${JSON.stringify(images.map(localJson), null, 2)}\n`, notes: [] };
  const table = renderTable(
    ['LANGUAGE', 'SIZE', 'PATH'],
    images.map((i) => [i.name, formatMiB(i.size), i.path].map(escapeControls)),
  );
  const notes = images.filter((i) => i.problem !== undefined).map((i) => escapeControls(`${i.path}: ${i.problem}`));
  return { table, notes };
}

async function checkImages(images: LocalRootfs[]): Promise<CheckedImage[]> {
  if (images.length === 0) return [];
  // Loaded only when there is an image to check (it brings libext2fs).
  const { imageProblem } = await import('../../ext4/reader.js');
  const { sidecarDescribes } = await import('../../store/sidecar.js');
  const checked: CheckedImage[] = [];
  // One at a time: a directory may hold many files, and each check opens one.
  for (const image of images) {
    const problem = await imageProblem(image.path, image.size);
    const sidecarCurrent = image.sidecar !== undefined && sidecarDescribes(image.sidecar, image);
    checked.push({ ...image, sidecarCurrent, ...(problem === undefined ? {} : { problem }) });
  }
  return checked;
}

function localJson(image: CheckedImage): Record<string, unknown> {
  const s = image.sidecar;
  return {
    name: image.name,
    path: image.path,
    size: image.size,
    modified: new Date(image.mtimeMs).toISOString(),
    ...(image.problem !== undefined ? { problem: image.problem } : {}),
    ...(s
      ? {
          image: s.image,
          digest: s.digest,
          ...(s.platform ? { platform: s.platform } : {}),
          builtAt: s.builtAt,
          toolVersion: s.toolVersion,
          // A sidecar written for another state of the file says nothing about this one's digest.
          ...(image.sidecarCurrent ? sidecarDigestJson(s) : { sidecarStale: true }),
        }
      : {}),
  };
}

/** The digest as the sidecar's version names it: `sha256` (version 1) or `chunkedSha256`. */
function sidecarDigestJson(s: Sidecar): Record<string, string> {
  return s.version === 2 ? { chunkedSha256: s.chunkedSha256 } : { sha256: s.sha256 };
}

async function remoteListing(argv: ListArgs): Promise<string> {
  const location = parseBucketUrl(argv.bucket);
  // The AWS SDK loads only for S3 commands: it costs every other command a second otherwise.
  const { connectS3 } = await import('../../store/s3/client.js');
  const { listRemoteRootfs } = await import('../../store/s3/list.js');
  const s3 = await connectS3({ endpoint: argv.endpoint });
  try {
    const images = await listRemoteRootfs(s3, location);
    if (argv.json) return `${JSON.stringify(images.map(remoteJson), null, 2)}\n`;
    return renderTable(
      ['LANGUAGE', 'SIZE', 'LAST MODIFIED', 'S3 KEY'],
      // Keys are whatever the bucket holds.
      images.map((i) => [i.name, formatMiB(i.size), formatUtcMinute(i.lastModified), i.key].map(escapeControls)),
    );
  } finally {
    s3.client.destroy();
  }
}

function remoteJson(image: RemoteRootfs): Record<string, unknown> {
  return { name: image.name, key: image.key, size: image.size, lastModified: image.lastModified.toISOString() };
}

import type { CommandModule } from 'yargs';
import { resolveRootfsPath } from '../../store/paths.js';
import { progressView } from '../progress.js';
import { output } from '../output.js';
import { DEFAULT_BUCKET_URL, formatLocation, parseBucketUrl } from '../../store/s3/location.js';
import { formatMiB } from '../table.js';

/** `--endpoint`, shared by the S3 commands. */
export const endpointOption = {
  type: 'string',
  describe: 'S3-compatible endpoint URL, path-style (default $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)',
} as const;

interface UploadArgs {
  lang: string;
  bucket: string;
  'images-dir'?: string;
  endpoint?: string;
}

export const uploadCommand: CommandModule<object, UploadArgs> = {
  command: 'upload',
  describe: 'Upload a rootfs image to S3',
  builder: (y) =>
    y
      .example('infra.operator rootfs upload --lang python', 'to the default bucket')
      .example('infra.operator rootfs upload --lang nodejs --bucket s3://my-bucket', 'to your bucket')
      .option('lang', { alias: 'l', type: 'string', demandOption: true, describe: 'Language to upload' })
      .option('bucket', { alias: 'b', type: 'string', default: DEFAULT_BUCKET_URL, describe: 'S3 bucket[/prefix]' })
      .option('images-dir', { type: 'string', describe: 'Local images directory (default $INFRA_OPERATOR_IMAGES_DIR or /srv/firecracker/images)' })
      .option('endpoint', endpointOption),
  handler: async (argv) => {
    const location = parseBucketUrl(argv.bucket);
    const rootfsPath = resolveRootfsPath(argv.lang, { imagesDir: argv['images-dir'] });
    // The AWS SDK loads only for S3 commands (see list.ts).
    const { connectS3 } = await import('../../store/s3/client.js');
    const { uploadRootfs, UPLOAD_MAX_ATTEMPTS } = await import('../../store/s3/upload.js');
    const s3 = await connectS3({ endpoint: argv.endpoint, maxAttempts: UPLOAD_MAX_ATTEMPTS });
    try {
      process.stdout.write(`Uploading ${rootfsPath} to ${formatLocation(location)}...\n`);
      const view = progressView(output({}), { transferLabel: 'Uploading' });
      const result = await uploadRootfs({
        s3,
        location,
        name: argv.lang,
        rootfsPath,
        onEvent: view.onEvent,
      }).finally(view.done);
      process.stdout.write(`Uploaded: ${formatLocation(location, result.key)} (${formatMiB(result.size)}, ${result.digest.kind} ${result.digest.hex})\n`);
      if (result.sidecarKey) process.stdout.write(`Uploaded: ${formatLocation(location, result.sidecarKey)}\n`);
    } finally {
      s3.client.destroy();
    }
  },
};

import type { CommandModule } from 'yargs';
import { resolveRootfsPath } from '../../store/paths.js';
import { progressView } from '../progress.js';
import { output } from '../output.js';
import { DEFAULT_BUCKET_URL, formatLocation, parseBucketUrl } from '../../store/s3/location.js';
import { formatMiB } from '../table.js';
import { endpointOption } from './upload.js';

interface DownloadArgs {
  lang: string;
  bucket: string;
  output?: string;
  'images-dir'?: string;
  endpoint?: string;
}

export const downloadCommand: CommandModule<object, DownloadArgs> = {
  command: 'download',
  describe: 'Download a rootfs image from S3',
  builder: (y) =>
    y
      .example('infra.operator rootfs download --lang python', 'into the images directory')
      .example('infra.operator rootfs download --lang nodejs --output /tmp/nodejs.ext4', 'to a file of your choice')
      .option('lang', { alias: 'l', type: 'string', demandOption: true, describe: 'Language to download' })
      .option('bucket', { alias: 'b', type: 'string', default: DEFAULT_BUCKET_URL, describe: 'S3 bucket[/prefix]' })
      .option('output', { alias: 'o', type: 'string', describe: 'Output file or directory (default: the images directory)' })
      .option('images-dir', { type: 'string', describe: 'Local images directory (default $INFRA_OPERATOR_IMAGES_DIR or /srv/firecracker/images)' })
      .option('endpoint', endpointOption),
  handler: async (argv) => {
    const location = parseBucketUrl(argv.bucket);
    const outputPath = resolveRootfsPath(argv.lang, { imagesDir: argv['images-dir'], output: argv.output });
    // The AWS SDK loads only for S3 commands (see list.ts).
    const { connectS3 } = await import('../../store/s3/client.js');
    const { downloadRootfs } = await import('../../store/s3/download.js');
    const s3 = await connectS3({ endpoint: argv.endpoint });
    try {
      const view = progressView(output({}), { transferLabel: 'Downloading' });
      const result = await downloadRootfs({
        s3,
        location,
        name: argv.lang,
        outputPath,
        onEvent: view.onEvent,
      }).finally(view.done);
      const check = result.digest ? `${result.digest.kind} ${result.digest.hex} verified` : 'NOT verified';
      process.stdout.write(`Downloaded: ${formatLocation(location, result.key)} -> ${result.path} (${formatMiB(result.size)}, ${check})\n`);
      if (result.sidecarPath) process.stdout.write(`Sidecar: ${result.sidecarPath}\n`);
    } finally {
      s3.client.destroy();
    }
  },
};

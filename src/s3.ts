/**
 * `infra.operator/s3`: images to and from S3. A separate entry point so that importing the
 * main library does not load the AWS SDK.
 *
 *   import { connectS3, uploadRootfs } from 'infra.operator/s3';
 */
export { connectS3, type S3ClientOptions, type S3Connection } from './store/s3/client.js';
export { uploadRootfs, type UploadRequest, type UploadResult } from './store/s3/upload.js';
export { downloadRootfs, type DownloadRequest, type DownloadResult } from './store/s3/download.js';
export { listRemoteRootfs, type RemoteRootfs } from './store/s3/list.js';
export { parseBucketUrl, type BucketLocation } from './store/s3/location.js';

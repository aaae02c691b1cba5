/**
 * How S3 failures read. The cases s3rver can produce are tested end to end in
 * s3-listing.test.ts; these are the ones only AWS produces (wrong region, access denied),
 * built as the SDK builds them.
 */
import t from 'tap';
import { NoSuchBucket, S3ServiceException } from '@aws-sdk/client-s3';
import { s3Error, type S3ErrorContext } from '../../src/store/s3/errors.js';

const ctx: S3ErrorContext = { operation: 'download', bucket: 'runner-codes', key: 'rootfs-go.ext4', region: 'us-east-1' };

function serviceError(name: string, status: number, message = 'from S3'): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message });
}

t.test('wrong region: S3 error naming the region to set', async (t) => {
  const e = s3Error(serviceError('PermanentRedirect', 301), ctx);
  t.equal(e.code, 'S3');
  t.match(e.message, /Bucket runner-codes is not in region us-east-1 .*Set AWS_REGION .*aws s3 ls s3:\/\/runner-codes\//);
  t.equal(s3Error(serviceError('301', 301), ctx).code, 'S3', 'a HEAD redirect has no body, only the status');
});

t.test('refused credentials: AUTH, pointing at aws sts get-caller-identity', async (t) => {
  for (const name of ['AccessDenied', 'SignatureDoesNotMatch', 'ExpiredToken', '403']) {
    const e = s3Error(serviceError(name, 403), ctx);
    t.equal(e.code, 'AUTH', name);
    t.match(e.message, /aws sts get-caller-identity/);
  }
});

t.test('missing bucket or object: NOT_FOUND, saying which', async (t) => {
  const bucket = s3Error(new NoSuchBucket({ $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist' }), ctx);
  t.equal(bucket.code, 'NOT_FOUND');
  t.match(bucket.message, /Bucket runner-codes does not exist in region us-east-1 \(it is not created for you\)/);
  const object = s3Error(serviceError('NotFound', 404), ctx);
  t.match(object.message, /No object s3:\/\/runner-codes\/rootfs-go\.ext4/);
});

t.test('network failures: NETWORK; anything else: S3 with the SDK detail', async (t) => {
  const refused = s3Error(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), { ...ctx, endpoint: 'http://127.0.0.1:9' });
  t.equal(refused.code, 'NETWORK');
  t.match(refused.message, /Cannot reach S3 at http:\/\/127\.0\.0\.1:9 for the download/);
  const other = s3Error(serviceError('InternalError', 500, 'We encountered an internal error'), ctx);
  t.equal(other.code, 'S3');
  t.match(other.message, /InternalError \(HTTP 500\): We encountered an internal error/);
});

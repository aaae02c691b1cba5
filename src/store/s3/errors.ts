/** Turns SDK and network failures into InfraErrors that say what to check. */
import { InfraError } from '../../errors.js';

export interface S3ErrorContext {
  /** What was being done: `upload`, `list`, `download`… */
  operation: string;
  bucket: string;
  key?: string;
  endpoint?: string;
  region: string;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const AUTH_ERRORS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AccessDenied',
  'AllAccessDisabled',
  'Forbidden',
]);
const REGION_ERRORS = new Set(['PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);

export function s3Error(err: unknown, ctx: S3ErrorContext): InfraError {
  if (err instanceof InfraError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const name = e.name ?? e.Code ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const where = ctx.key ? `s3://${ctx.bucket}/${ctx.key}` : `s3://${ctx.bucket}`;
  const detail = `${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
  const listHint = `check the bucket with 'aws s3 ls s3://${ctx.bucket}/'`;

  if (name === 'CredentialsProviderError') {
    return new InfraError(
      'AUTH',
      `No AWS credentials found for ${ctx.operation}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, then check them with 'aws sts get-caller-identity'.`,
      { cause: err },
    );
  }
  if (AUTH_ERRORS.has(name) || status === 403) {
    return new InfraError(
      'AUTH',
      `S3 refused the ${ctx.operation} of ${where} (${detail}). Check the credentials with 'aws sts get-caller-identity' and that they may access the bucket; ${listHint}.`,
      { cause: err },
    );
  }
  if (REGION_ERRORS.has(name) || status === 301) {
    return new InfraError(
      'S3',
      `Bucket ${ctx.bucket} is not in region ${ctx.region} (${detail}). Set AWS_REGION (or the profile's region) to the bucket's; ${listHint}.`,
      { cause: err },
    );
  }
  if (name === 'NoSuchBucket') return noSuchBucket(ctx, err);
  if (name === 'NoSuchKey' || (name === 'NotFound' && ctx.key)) {
    return new InfraError(
      'NOT_FOUND',
      `No object ${where}. 'infra.operator rootfs list --remote --bucket s3://${ctx.bucket}/' shows the images there are.`,
      { cause: err },
    );
  }
  if (name === 'NotFound' || status === 404) return noSuchBucket(ctx, err);
  if (NETWORK_CODES.has(e.code ?? '') || NETWORK_CODES.has(name) || name === 'TimeoutError' || name === 'RequestTimeout') {
    return new InfraError(
      'NETWORK',
      `Cannot reach S3${ctx.endpoint ? ` at ${ctx.endpoint}` : ` in ${ctx.region}`} for the ${ctx.operation} of ${where} (${detail}), after retries. Check the network${ctx.endpoint ? ' and the endpoint' : ''}, then run the command again.`,
      { cause: err },
    );
  }
  return new InfraError('S3', `S3 ${ctx.operation} of ${where} failed: ${detail}. Check the bucket with 'aws s3 ls s3://${ctx.bucket}/' and the credentials with 'aws sts get-caller-identity'.`, { cause: err });
}

export function noSuchBucket(ctx: S3ErrorContext, cause?: unknown): InfraError {
  return new InfraError(
    'NOT_FOUND',
    `Bucket ${ctx.bucket} does not exist${ctx.endpoint ? ` at ${ctx.endpoint}` : ` in region ${ctx.region}`} (it is not created for you).`,
    { option: 'bucket', hint: `check the name and region with 'aws s3 ls s3://${ctx.bucket}/', or pass {bucket} s3://BUCKET`, ...(cause === undefined ? {} : { cause }) },
  );
}

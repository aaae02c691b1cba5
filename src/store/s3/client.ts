/**
 * The S3 client, configured the AWS way: the SDK's default credential chain, region from
 * the environment or profile (us-east-1 when none), and an endpoint override
 * (`--endpoint`, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) with path-style addressing for
 * S3-compatible stores.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { InfraError } from '../../errors.js';

export const FALLBACK_REGION = 'us-east-1';
/** Attempts per request (the SDK backs off between them, up to ~3 s in all). */
const DEFAULT_MAX_ATTEMPTS = 6;

export interface S3ClientOptions {
  /** `--endpoint URL`; wins over the environment. */
  endpoint?: string;
  env?: NodeJS.ProcessEnv;
  /** Attempts per request; more for long transfers that should outlast a short outage. */
  maxAttempts?: number;
}

export interface S3Connection {
  client: S3Client;
  region: string;
  /** The custom endpoint, when one is used (for messages). */
  endpoint?: string;
}

export function resolveEndpoint(options: S3ClientOptions): string | undefined {
  const env = options.env ?? process.env;
  const endpoint = options.endpoint || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint !== undefined) checkEndpoint(endpoint, options.endpoint ? undefined : env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL');
  return endpoint;
}

/** A malformed endpoint is a usage error (exit 2), not an S3 failure after the SDK tried it. */
function checkEndpoint(endpoint: string, fromEnv: string | undefined): void {
  let scheme: string | undefined;
  try {
    scheme = new URL(endpoint).protocol;
  } catch {
    scheme = undefined;
  }
  if (scheme === 'http:' || scheme === 'https:') return;
  throw new InfraError('USAGE', `The S3 endpoint '${endpoint}'${fromEnv ? ` (from ${fromEnv})` : ''} is not an http(s) URL.`, {
    ...(fromEnv ? {} : { option: 'endpoint' }),
    hint: fromEnv ? `set ${fromEnv} to e.g. http://127.0.0.1:9000, or unset it` : 'give {endpoint} like http://127.0.0.1:9000',
  });
}

export async function connectS3(options: S3ClientOptions = {}): Promise<S3Connection> {
  const endpoint = resolveEndpoint(options);
  const region = await defaultRegion();
  const client = new S3Client({
    region,
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // A bucket in another region than the configured one is followed, not an error.
    followRegionRedirects: true,
    // Integrity comes from our own sha256; S3-compatible stores differ in checksum support,
    // and streamed uploads with default checksums get aws-chunked framing some of them store.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return { client, region, ...(endpoint ? { endpoint } : {}) };
}

/** The SDK's own region resolution (AWS_REGION, profile…), us-east-1 when it finds none. */
async function defaultRegion(): Promise<string> {
  const probe = new S3Client({});
  try {
    return await probe.config.region();
  } catch {
    return FALLBACK_REGION;
  } finally {
    probe.destroy();
  }
}

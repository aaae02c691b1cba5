/**
 * A real S3 server for tests: s3rver (npm) as a child process on 127.0.0.1, with its own
 * data directory, stopped at teardown. See /work/shared/notes/testing.md (s3rver).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from './env.js';

const S3RVER_BIN = join(REPO, 'node_modules/s3rver/bin/s3rver.js');
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3rver {
  endpoint: string;
  port: number;
  /** Data directory: objects are `DIR/BUCKET/KEY._S3rver_object`. */
  dir: string;
  /** Environment for the CLI (or an SDK client) to talk to this server and nothing else. */
  env: NodeJS.ProcessEnv;
  /** Path of an object's bytes on disk. */
  objectPath(bucket: string, key: string): string;
  stop(): Promise<void>;
  /** Starts it again on the same port and directory (after stop). */
  start(): Promise<void>;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Starts s3rver with `buckets` created (as directories, which is how its filesystem store keeps them). */
export async function startS3rver(t: Teardown, buckets: string[] = []): Promise<S3rver> {
  const dir = tempDir(t, 'infra-op-s3rver-');
  for (const bucket of buckets) mkdirSync(join(dir, bucket));
  let child: ChildProcess | undefined;
  let port = 0;

  const start = async () => {
    const launched = await launch(dir, port);
    child = launched.child;
    port = launched.port;
  };
  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child?.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await withTimeout(exited, STOP_TIMEOUT_MS, 's3rver did not stop').catch(() => child?.kill('SIGKILL'));
  };
  t.teardown(stop);
  await start();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    dir,
    env: s3Env(endpoint),
    objectPath: (bucket, key) => join(dir, bucket, `${key}._S3rver_object`),
    stop,
    start,
  };
}

/** Writes an object the way s3rver's filesystem store keeps it (fast, for thousands of keys). */
export function putOnDisk(server: S3rver, bucket: string, key: string, body: Buffer, meta: Record<string, string> = {}): void {
  const objectPath = server.objectPath(bucket, key);
  mkdirSync(join(objectPath, '..'), { recursive: true });
  writeFileSync(objectPath, body);
  writeFileSync(`${objectPath}.md5`, createHash('md5').update(body).digest('hex'));
  const metadata: Record<string, string> = { 'content-type': 'application/octet-stream' };
  for (const [k, v] of Object.entries(meta)) metadata[`x-amz-meta-${k}`] = v;
  writeFileSync(server.objectPath(bucket, key).replace(/_object$/, '_metadata.json'), JSON.stringify(metadata));
}

/** The CLI's environment: s3rver's endpoint and credentials, no host AWS configuration. */
export function s3Env(endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('AWS_')) delete env[name];
  delete env.NODE_OPTIONS;
  return {
    ...env,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

async function launch(dir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  // The legacy provider is for s3rver only: its listing tokens use DES (testing.md).
  const child = spawn(process.execPath, [S3RVER_BIN, '-s', '-d', dir, '-a', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listening = new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on [^:\s]+:(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before listening: ${output}`)));
  });
  listening.catch(() => undefined); // observed below; a late exit must not go unhandled
  try {
    return { child, port: await withTimeout(listening, START_TIMEOUT_MS, 's3rver did not start in time') };
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; its output: ${output}`);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

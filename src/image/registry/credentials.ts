/**
 * Where registry credentials come from, in the order users expect (skopeo/podman, then
 * Docker): `--creds`, `--authfile`, `REGISTRY_AUTH_FILE`, then `$DOCKER_CONFIG/config.json`
 * or `~/.docker/config.json`. In a config file: `credHelpers[registry]`, then an `auths`
 * entry with credentials, then `credsStore`. Helpers follow docker-credential-helpers'
 * protocol: `docker-credential-NAME get`, server URL on stdin, JSON on stdout.
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InfraError } from '../../errors.js';
import { DOCKER_HUB } from '../reference.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface CredentialOptions {
  /** `user:pass` */
  creds?: string;
  authfile?: string;
}

/** Docker's config.json / containers-auth.json (same `auths` shape). */
interface AuthConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** docker-credential-helpers `get` output. */
interface HelperOutput {
  ServerURL?: string;
  Username?: string;
  Secret?: string;
}

/** The key Docker files Docker Hub credentials under. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES = [DOCKER_HUB, 'index.docker.io', 'registry-1.docker.io'];
const HELPER_TIMEOUT_MS = 30_000;

export function parseCreds(text: string): Credentials {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new InfraError('USAGE', 'Registry credentials must be user:password.', { option: 'creds', hint: 'e.g. {creds} AWS:$(aws ecr get-login-password)' });
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Config files to consult, most specific first. */
function configFiles(options: CredentialOptions): string[] {
  if (options.authfile) return [options.authfile];
  const files: string[] = [];
  if (process.env.REGISTRY_AUTH_FILE) files.push(process.env.REGISTRY_AUTH_FILE);
  files.push(join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json'));
  return files;
}

/** A key of `auths` reduced to host[/path]: `https://index.docker.io/v1/` → `docker.io`. */
function normaliseKey(key: string): string {
  const bare = key.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '').replace(/\/v[12]$/, '');
  return DOCKER_HUB_ALIASES.includes(bare) ? DOCKER_HUB : bare;
}

/** Keys to try for an image: `host/repo/path`, its parents, then `host` (containers-auth.json). */
function lookupKeys(registry: string, repository: string): string[] {
  const parts = repository.split('/');
  const keys = parts.map((_, i) => `${registry}/${parts.slice(0, parts.length - i).join('/')}`);
  return [...keys, registry];
}

export async function resolveCredentials(registry: string, repository: string, options: CredentialOptions): Promise<Credentials | undefined> {
  if (options.creds) return parseCreds(options.creds);
  for (const file of configFiles(options)) {
    const config = await readConfig(file, options.authfile !== undefined);
    if (!config) continue;
    const found = await fromConfig(config, registry, repository, file);
    if (found) return found;
  }
  return undefined;
}

/**
 * Explicit credentials must be usable whether or not the registry asks for them: a
 * malformed `creds`, an unreadable or malformed `authfile` is an error before any pull.
 */
export async function checkCredentialOptions(options: CredentialOptions): Promise<void> {
  if (options.creds !== undefined) parseCreds(options.creds);
  if (options.authfile !== undefined) await readConfig(options.authfile, true);
}

/** An auth file larger than this is not one (a config.json is a few KB). */
const MAX_AUTH_FILE_BYTES = 1 << 20;

async function readConfig(file: string, required: boolean): Promise<AuthConfigFile | undefined> {
  let text: string;
  try {
    text = await readAuthFile(file);
  } catch (err) {
    if (!required) return undefined;
    throw new InfraError('INPUT', `Cannot read the auth file ${file}: ${(err as Error).message}.`, {
      option: 'authfile',
      path: file,
      hint: 'give {authfile} a readable auth.json or docker config.json (docker login / skopeo login write one), or leave it out',
      cause: err,
    });
  }
  let config: unknown;
  let why = 'not valid JSON';
  try {
    config = JSON.parse(text);
    why = 'not an auth.json or docker config.json (a JSON object with "auths", "credHelpers" or "credsStore")';
  } catch {
    config = undefined;
  }
  if (!isAuthConfig(config)) {
    throw new InfraError('INPUT', `The auth file ${file} is ${why}.`, {
      ...(required ? { option: 'authfile' } : {}),
      path: file,
      hint: required ? 'fix it (docker login / skopeo login rewrite it), or leave out {authfile}' : 'fix or remove it (it holds registry credentials)',
    });
  }
  return config;
}

async function readAuthFile(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error('not a regular file');
    if (info.size > MAX_AUTH_FILE_BYTES) throw new Error(`larger than ${MAX_AUTH_FILE_BYTES} bytes`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** The fields this reader uses, each of the type Docker's and containers' files give it. */
function isAuthConfig(value: unknown): value is AuthConfigFile {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { auths, credHelpers, credsStore } = value as Record<string, unknown>;
  const isRecord = (v: unknown) => v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v));
  return isRecord(auths) && isRecord(credHelpers) && (credsStore === undefined || typeof credsStore === 'string');
}

async function fromConfig(config: AuthConfigFile, registry: string, repository: string, file: string): Promise<Credentials | undefined> {
  const helper = Object.entries(config.credHelpers ?? {}).find(([key]) => normaliseKey(key) === registry)?.[1];
  if (helper) return runHelper(helper, registry);
  const auths = new Map(Object.entries(config.auths ?? {}).map(([key, value]) => [normaliseKey(key), value]));
  for (const key of lookupKeys(registry, repository)) {
    const entry = auths.get(key);
    if (!entry) continue;
    if (entry.auth) return decodeAuth(entry.auth, key, file);
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  if (config.credsStore) return runHelper(config.credsStore, registry);
  return undefined;
}

function decodeAuth(auth: string, key: string, file: string): Credentials {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  if (!text.includes(':')) throw new InfraError('AUTH', `the "auth" for ${key} in ${file} is not base64 of user:password; log in again`);
  return parseCreds(text);
}

/** Runs `docker-credential-NAME get`; "not found" is no credentials, anything else an error. */
export function runHelper(name: string, registry: string): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const serverUrl = registry === DOCKER_HUB ? DOCKER_HUB_KEY : registry;
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'], timeout: HELPER_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) =>
      reject(new InfraError('AUTH', `credential helper ${program} could not run (${err.message}); install it or remove it from the Docker config`)),
    );
    child.on('close', (code) => {
      const said = `${stdout}${stderr}`.trim();
      if (code !== 0) {
        if (/credentials not found/i.test(said)) resolve(undefined);
        else reject(new InfraError('AUTH', `credential helper ${program} failed for ${serverUrl}: ${said || `exit ${code}`}`));
        return;
      }
      try {
        const out = JSON.parse(stdout) as HelperOutput;
        resolve(out.Username && out.Secret ? { username: out.Username, password: out.Secret } : undefined);
      } catch {
        reject(new InfraError('AUTH', `credential helper ${program} printed something other than JSON for ${serverUrl}`));
      }
    });
    // A helper may exit without reading stdin (EPIPE): its exit status and output tell the story.
    child.stdin.on('error', () => {});
    child.stdin.end(serverUrl);
  });
}

/**
 * Where registry credentials come from, in the order users expect (skopeo/podman, then
 * Docker): `--creds`, `--authfile`, `REGISTRY_AUTH_FILE`, then `$DOCKER_CONFIG/config.json`
 * or `~/.docker/config.json`. In a config file: `credHelpers[registry]`, then an `auths`
 * entry with credentials, then `credsStore`. Helpers follow docker-credential-helpers'
 * protocol: `docker-credential-NAME get`, server URL on stdin, JSON on stdout.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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

async function readConfig(file: string, required: boolean): Promise<AuthConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (required) throw new InfraError('INPUT', `cannot read the auth file ${file} (${(err as Error).message})`);
    return undefined;
  }
  try {
    return JSON.parse(text) as AuthConfigFile;
  } catch {
    throw new InfraError('INPUT', `${file} is not valid JSON; fix or remove it (it holds registry credentials)`);
  }
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

/**
 * Image references: the transport prefix (skopeo's names) and, for registries, the
 * distribution reference grammar (distribution/reference `reference.go`), normalised the
 * way Docker does (`alpine` → `docker.io/library/alpine:latest`). Knows nothing of HTTP.
 */
import { existsSync, statSync } from 'node:fs';
import { InfraError } from '../errors.js';

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's API actually answers. */
const DOCKER_HUB_API = 'registry-1.docker.io';

export interface DockerReference {
  /** Registry host[:port] as the user means it (`docker.io`, `localhost:5000`). */
  registry: string;
  /** Repository path (`library/alpine`). */
  repository: string;
  tag?: string;
  digest?: string;
}

export type SourceSpec =
  | { transport: 'docker'; ref: DockerReference }
  | { transport: 'oci' | 'oci-archive' | 'docker-archive'; path: string; ref?: string }
  | { transport: 'tar'; path: string };

// distribution/reference regexp.go
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::\d+)?$/;

const PATH_TRANSPORTS = ['oci', 'oci-archive', 'docker-archive'] as const;

/** Splits `transport:rest`; anything without one of the five prefixes is a registry reference. */
export function parseSource(input: string): SourceSpec {
  if (input.startsWith('docker://')) return { transport: 'docker', ref: parseDockerReference(input.slice(9)) };
  if (input.startsWith('tar:')) return { transport: 'tar', path: requirePath(input.slice(4), input) };
  for (const transport of PATH_TRANSPORTS) {
    if (input.startsWith(`${transport}:`)) {
      const { path, ref } = splitPathAndRef(input.slice(transport.length + 1), input);
      return ref === undefined ? { transport, path } : { transport, path, ref };
    }
  }
  rejectBarePath(input);
  return { transport: 'docker', ref: parseDockerReference(input) };
}

function requirePath(path: string, input: string): string {
  if (path === '') throw new InfraError('USAGE', `"${input}" names no file: write the path after the prefix`);
  return path;
}

/**
 * `PATH[:REF]`. REF may contain ':' (`docker-archive:x.tar:alpine:3.20`) and so may PATH:
 * the longest prefix that exists is the path; failing that, the first ':' splits (skopeo).
 */
function splitPathAndRef(rest: string, input: string): { path: string; ref?: string } {
  if (existsSync(rest)) return { path: requirePath(rest, input) };
  const colons = [...rest.matchAll(/:/g)].map((m) => m.index);
  const longestExisting = [...colons].reverse().find((i) => i > 0 && existsSync(rest.slice(0, i)));
  const split = longestExisting ?? colons[0];
  if (split === undefined) return { path: requirePath(rest, input) };
  const path = requirePath(rest.slice(0, split), input);
  const ref = rest.slice(split + 1);
  return ref === '' ? { path } : { path, ref };
}

/** A bare path that exists is almost certainly a local image given without its transport. */
function rejectBarePath(input: string): void {
  if (!existsSync(input)) return;
  const hint = statSync(input).isDirectory()
    ? `oci:${input} for an OCI image layout directory`
    : `tar:${input} for a rootfs tarball, docker-archive:${input} for \`docker save\` output, or oci-archive:${input} for an OCI archive`;
  throw new InfraError('INPUT', `"${input}" is a local path, not a registry reference: use ${hint}`);
}

/** Parses and normalises a registry reference (`[host[:port]/]path[:tag][@digest]`). */
export function parseDockerReference(text: string): DockerReference {
  const invalid = (why: string) =>
    // A malformed value, as a malformed platform is: a usage error (docs/exit-codes.md).
    new InfraError('USAGE', `invalid image reference "${text}": ${why} (expected e.g. alpine:3.20, ghcr.io/org/app@sha256:…, localhost:5000/app)`);
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(`"${digest}" is not a digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(`"${tag}" is not a valid tag`);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    if (!HOST.test(first)) throw invalid(`"${first}" is not a valid registry host`);
    registry = first;
    rest = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !rest.includes('/')) rest = `library/${rest}`;
  if (rest === '' || !rest.split('/').every((c) => COMPONENT.test(c))) {
    throw invalid('repository names are lowercase letters, digits and separators');
  }
  const ref: DockerReference = { registry, repository: rest };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/** Whether `text` is a registry `host[:port]` (for insecureRegistries). */
export function isRegistryHost(text: string): boolean {
  return HOST.test(text);
}

export function formatDockerReference(ref: DockerReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Host[:port] the registry API answers on. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Loopback registries may fall back to plain HTTP (as Docker and containerd allow). */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The pure parts of the image sources: references, challenges, Retry-After, platforms, cache and credential lookup. */
import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { defaultCacheDir } from '../../src/image/cache.js';
import { parsePlatform, platformMatches, selectPlatform, type ImageIndex } from '../../src/image/media.js';
import { formatDockerReference, isLoopback, parseDockerReference, parseSource } from '../../src/image/reference.js';
import { parseChallenges, pickChallenge } from '../../src/image/registry/auth.js';
import { resolveCredentials } from '../../src/image/registry/credentials.js';
import { backoffDelay, parseRetryAfter } from '../../src/image/registry/http.js';
import { ALPINE_X86, tempDir } from '../helpers/env.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

t.test('registry references are normalised the way Docker does', async (t) => {
  const cases: Array<[string, string]> = [
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['library/alpine', 'docker.io/library/alpine:latest'],
    ['bitnami/redis:7', 'docker.io/bitnami/redis:7'],
    ['index.docker.io/library/alpine', 'docker.io/library/alpine:latest'],
    ['docker.io/alpine', 'docker.io/library/alpine:latest'],
    ['ghcr.io/org/team/app:v1.2', 'ghcr.io/org/team/app:v1.2'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b:c', '127.0.0.1:5000/a/b:c'],
    [`alpine@${DIGEST}`, `docker.io/library/alpine@${DIGEST}`],
    [`registry.example.com:443/app:1@${DIGEST}`, `registry.example.com:443/app:1@${DIGEST}`],
  ];
  for (const [input, normal] of cases) t.equal(formatDockerReference(parseDockerReference(input)), normal, input);
  t.same(parseDockerReference('localhost:5000/x:y'), { registry: 'localhost:5000', repository: 'x', tag: 'y' });
  for (const bad of ['Alpine', 'alpine:', 'alpine@sha256:12', 'a//b', 'alpine:bad tag', '']) {
    t.throws(() => parseDockerReference(bad), { code: 'USAGE' }, bad);
  }
});

t.test('only five prefixes are transports', async (t) => {
  t.same(parseSource('docker://alpine'), { transport: 'docker', ref: { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' } });
  t.same(parseSource('localhost:5000/x'), { transport: 'docker', ref: { registry: 'localhost:5000', repository: 'x', tag: 'latest' } });
  t.same(parseSource('oci:/nonexistent/dir'), { transport: 'oci', path: '/nonexistent/dir' });
  t.same(parseSource('oci:/nonexistent/dir:v1'), { transport: 'oci', path: '/nonexistent/dir', ref: 'v1' });
  t.same(parseSource(`docker-archive:${ALPINE_X86}:example/app:1.0`), { transport: 'docker-archive', path: ALPINE_X86, ref: 'example/app:1.0' });
  t.same(parseSource(`oci-archive:${ALPINE_X86}`), { transport: 'oci-archive', path: ALPINE_X86 });
  t.same(parseSource('tar:rootfs.tar.gz'), { transport: 'tar', path: 'rootfs.tar.gz' });
  t.throws(() => parseSource('tar:'), { code: 'USAGE' });
  t.throws(() => parseSource(ALPINE_X86), { code: 'INPUT', message: /tar:/ });
  t.ok(isLoopback('localhost:5000') && isLoopback('127.0.0.1:1') && isLoopback('[::1]:5000'));
  t.notOk(isLoopback('registry.example.com') || isLoopback('10.0.0.1:5000'));
});

t.test('WWW-Authenticate challenges', async (t) => {
  t.same(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
  ]);
  t.same(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://x/t", service=x, error="insufficient_scope"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'https://x/t', service: 'x', error: 'insufficient_scope' } },
  ]);
  t.same(parseChallenges('Bearer realm="a \\"quoted\\" realm,with comma"'), [{ scheme: 'bearer', params: { realm: 'a "quoted" realm,with comma' } }]);
  t.same(pickChallenge('Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"'), {
    scheme: 'basic',
    params: { realm: 'https://123.dkr.ecr.us-east-1.amazonaws.com/', service: 'ecr.amazonaws.com' },
  }, 'ECR answers Basic');
  t.equal(pickChallenge('Basic realm=x, Bearer realm=y')?.scheme, 'bearer', 'Bearer preferred');
  t.equal(pickChallenge(undefined), undefined);
});

t.test('Retry-After and backoff', async (t) => {
  t.equal(parseRetryAfter('3'), 3000);
  const fromDate = parseRetryAfter(new Date(Date.now() + 5000).toUTCString()) ?? -1;
  t.ok(fromDate > 3000 && fromDate <= 5000, `HTTP-date form: ${fromDate} ms`);
  t.equal(parseRetryAfter('3600'), 60_000, 'capped');
  t.equal(parseRetryAfter('soon'), undefined);
  const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  for (let attempt = 0; attempt < 6; attempt++) {
    const d = backoffDelay(attempt, policy);
    const ceiling = Math.min(1000, 100 * 2 ** attempt);
    t.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${attempt}: ${d} within jitter range`);
  }
  t.ok(backoffDelay(0, policy, 2000) >= 2000, 'never sooner than Retry-After');
});

t.test('platforms', async (t) => {
  t.same(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  t.throws(() => parsePlatform('linux'), { code: 'USAGE' });
  t.ok(platformMatches(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' }));
  t.ok(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' }));
  t.notOk(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' }));
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:1', size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:2', size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:3', size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
    ],
  };
  t.equal(selectPlatform(index, parsePlatform('linux/arm/v7'))?.digest, 'sha256:2');
  t.equal(selectPlatform(index, parsePlatform('linux/arm'))?.digest, 'sha256:1');
  t.equal(selectPlatform(index, parsePlatform('linux/amd64')), undefined, 'attestations are not images');
});

t.test('cache directory: INFRA_OPERATOR_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', async (t) => {
  const saved = { a: process.env.INFRA_OPERATOR_CACHE_DIR, b: process.env.XDG_CACHE_HOME };
  t.teardown(() => {
    if (saved.a === undefined) delete process.env.INFRA_OPERATOR_CACHE_DIR;
    else process.env.INFRA_OPERATOR_CACHE_DIR = saved.a;
    if (saved.b === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved.b;
  });
  process.env.INFRA_OPERATOR_CACHE_DIR = '/x/cache';
  t.equal(defaultCacheDir(), '/x/cache');
  delete process.env.INFRA_OPERATOR_CACHE_DIR;
  process.env.XDG_CACHE_HOME = '/xdg';
  t.equal(defaultCacheDir(), '/xdg/infra.operator');
  delete process.env.XDG_CACHE_HOME;
  t.equal(defaultCacheDir(), join(homedir(), '.cache', 'infra.operator'));
});

t.test('Docker Hub credentials live under https://index.docker.io/v1/', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'config.json');
  const auth = (s: string) => Buffer.from(s).toString('base64');
  writeFileSync(file, JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: auth('hub:pw') }, 'ghcr.io': { auth: auth('gh:pat') } } }));
  t.same(await resolveCredentials('docker.io', 'library/alpine', { authfile: file }), { username: 'hub', password: 'pw' });
  t.same(await resolveCredentials('ghcr.io', 'org/app', { authfile: file }), { username: 'gh', password: 'pat' });
  t.equal(await resolveCredentials('quay.io', 'org/app', { authfile: file }), undefined);
  t.same(await resolveCredentials('quay.io', 'org/app', { authfile: file, creds: 'AWS:p:w' }), { username: 'AWS', password: 'p:w' }, '--creds first; passwords may hold colons');
  await t.rejects(resolveCredentials('quay.io', 'x', { authfile: join(dir, 'missing.json') }), { code: 'INPUT' });
});

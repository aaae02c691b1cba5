/**
 * Authentication against real docker-registry instances: htpasswd Basic over TLS with a
 * self-signed certificate (trusted through NODE_EXTRA_CA_CERTS, which the client reads
 * when it makes its agent), credentials from flags, auth files, Docker's config and a
 * credential helper; and the Bearer token flow with a token service of the test's own.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openImage } from '../../src/image/index.js';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { drain, LayoutWriter, pushLayout, rejects, sha256, uncompressedDigest } from '../helpers/oci-build.js';
import { startRegistry, withEnv } from '../helpers/registry.js';

if (!prerequisites(t, { tools: ['docker-registry', 'skopeo', 'htpasswd', 'openssl'], files: [ALPINE_X86] })) process.exit(0);

const scratch = tempDir(t);
const layout = new LayoutWriter(join(scratch, 'layout'));
const image = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [ALPINE_X86] });
layout.tagImage(image, 'latest');
const x86Gz = sha256(readFileSync(ALPINE_X86));

/** A Docker config dir with no credentials, so the developer's own never leak into a test. */
const emptyDockerConfig = join(scratch, 'empty-docker');
mkdirSync(emptyDockerConfig);

t.test('htpasswd Basic auth over TLS with a self-signed certificate', async (t) => {
  const registry = await startRegistry(t, { tls: true, basic: { user: 'alice', password: 's3cret' } });
  await pushLayout(layout.dir, 'latest', `${registry.host}/team/alpine:1`, { creds: 'alice:s3cret', certDir: registry.certDir! });
  const ref = `${registry.host}/team/alpine:1`;
  withEnv(t, { DOCKER_CONFIG: emptyDockerConfig, REGISTRY_AUTH_FILE: undefined, NODE_EXTRA_CA_CERTS: registry.caFile });

  t.test('untrusted certificate: NETWORK error pointing at NODE_EXTRA_CA_CERTS', async (t) => {
    withEnv(t, { NODE_EXTRA_CA_CERTS: undefined });
    await rejects(t, openImage(ref, { cacheDir: tempDir(t), creds: 'alice:s3cret' }), 'NETWORK', ['NODE_EXTRA_CA_CERTS', 'the insecureRegistry option']);
  });

  t.test('--insecure-registry accepts the unverified certificate', async (t) => {
    withEnv(t, { NODE_EXTRA_CA_CERTS: undefined });
    const pulled = await openImage(ref, { cacheDir: tempDir(t), creds: 'alice:s3cret', insecureRegistries: [registry.host] });
    t.equal(pulled.layers[0]!.digest, x86Gz);
  });

  t.test('no credentials, wrong credentials', async (t) => {
    await rejects(t, openImage(ref, { cacheDir: tempDir(t) }), 'AUTH', ['the creds option', `docker login ${registry.host}`]);
    await rejects(t, openImage(ref, { cacheDir: tempDir(t), creds: 'alice:wrong' }), 'AUTH', ['access denied']);
  });

  t.test('--creds', async (t) => {
    const pulled = await openImage(ref, { cacheDir: tempDir(t), creds: 'alice:s3cret' });
    t.equal(pulled.digest, image.manifestDigest);
    t.equal((await drain(pulled.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86));
  });

  const auth = Buffer.from('alice:s3cret').toString('base64');

  t.test('--authfile and REGISTRY_AUTH_FILE (containers auth.json, per-repository key)', async (t) => {
    const file = join(tempDir(t), 'auth.json');
    writeFileSync(file, JSON.stringify({ auths: { [`${registry.host}/team`]: { auth } } }));
    t.equal((await openImage(ref, { cacheDir: tempDir(t), authfile: file })).digest, image.manifestDigest);
    withEnv(t, { REGISTRY_AUTH_FILE: file });
    t.equal((await openImage(ref, { cacheDir: tempDir(t) })).digest, image.manifestDigest);
  });

  t.test('$DOCKER_CONFIG/config.json auths', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [`https://${registry.host}`]: { auth } } }));
    withEnv(t, { DOCKER_CONFIG: dir });
    t.equal((await openImage(ref, { cacheDir: tempDir(t) })).digest, image.manifestDigest);
  });

  t.test('a credential helper from credHelpers, run as docker-credential-NAME get', async (t) => {
    const dir = tempDir(t);
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const seen = join(dir, 'stdin.txt');
    const helper = join(bin, 'docker-credential-infraoptest');
    writeFileSync(helper, `#!/bin/sh\n[ "$1" = get ] || exit 3\ncat > '${seen}'\necho '{"ServerURL":"${registry.host}","Username":"alice","Secret":"s3cret"}'\n`);
    chmodSync(helper, 0o755);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: {} }, credHelpers: { [registry.host]: 'infraoptest' } }));
    withEnv(t, { DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` });
    t.equal((await openImage(ref, { cacheDir: tempDir(t) })).digest, image.manifestDigest);
    t.equal(readFileSync(seen, 'utf8'), registry.host, 'the helper got the server URL on stdin');

    writeFileSync(join(dir, 'config.json'), JSON.stringify({ credsStore: 'infraoptest' }));
    t.equal((await openImage(ref, { cacheDir: tempDir(t) })).digest, image.manifestDigest, 'credsStore as the default helper');

    writeFileSync(helper, '#!/bin/sh\necho "credentials not found in native keychain"\nexit 1\n');
    await rejects(t, openImage(ref, { cacheDir: tempDir(t) }), 'AUTH', ['the creds option']);
  });
});

t.test('Bearer tokens from the registry\'s token service (the Docker Hub flow)', async (t) => {
  withEnv(t, { DOCKER_CONFIG: emptyDockerConfig, REGISTRY_AUTH_FILE: undefined });
  const registry = await startRegistry(t, { token: { user: 'bob', password: 'pw', anonymousPull: true } });
  await pushLayout(layout.dir, 'latest', `${registry.host}/library/alpine:3.20`, { creds: 'bob:pw' });
  const ref = `${registry.host}/library/alpine:3.20`;

  t.test('anonymous pull token scoped to the repository', async (t) => {
    registry.tokenRequests.length = 0;
    const pulled = await openImage(ref, { cacheDir: tempDir(t) });
    t.equal(pulled.digest, image.manifestDigest);
    t.equal((await drain(pulled.layers[0]!.open())).digest, uncompressedDigest(ALPINE_X86));
    t.same(registry.tokenRequests, [{ scope: 'repository:library/alpine:pull', service: 'infra-op-test-registry' }], 'one token, reused for every request');
  });

  t.test('with credentials the token request carries them', async (t) => {
    registry.tokenRequests.length = 0;
    await openImage(ref, { cacheDir: tempDir(t), creds: 'bob:pw' });
    t.same(registry.tokenRequests, [{ scope: 'repository:library/alpine:pull', service: 'infra-op-test-registry', user: 'bob' }]);
    await rejects(t, openImage(ref, { cacheDir: tempDir(t), creds: 'bob:nope' }), 'AUTH', ['refused the credentials', 'repository:library/alpine:pull']);
  });
});

t.test('a refused token is renewed once after a 401', async (t) => {
  withEnv(t, { DOCKER_CONFIG: emptyDockerConfig, REGISTRY_AUTH_FILE: undefined });
  const registry = await startRegistry(t, { token: { user: 'bob', password: 'pw', anonymousPull: true } });
  await pushLayout(layout.dir, 'latest', `${registry.host}/library/alpine:3.20`, { creds: 'bob:pw' });
  registry.tokenRequests.length = 0;
  registry.uselessTokens = 1;
  const pulled = await openImage(`${registry.host}/library/alpine:3.20`, { cacheDir: tempDir(t) });
  t.equal(pulled.digest, image.manifestDigest);
  t.equal(registry.tokenRequests.length, 2, 'a second token after the 401, then reused');
});

t.test('a token service that grants nothing anonymously', async (t) => {
  withEnv(t, { DOCKER_CONFIG: emptyDockerConfig, REGISTRY_AUTH_FILE: undefined });
  const registry = await startRegistry(t, { token: { user: 'bob', password: 'pw', anonymousPull: false } });
  await pushLayout(layout.dir, 'latest', `${registry.host}/private/app:1`, { creds: 'bob:pw' });
  await rejects(t, openImage(`${registry.host}/private/app:1`, { cacheDir: tempDir(t) }), 'AUTH', ['access denied']);
  t.equal((await openImage(`${registry.host}/private/app:1`, { cacheDir: tempDir(t), creds: 'bob:pw' })).digest, image.manifestDigest);
});

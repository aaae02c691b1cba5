/**
 * The product path, end to end: images pushed to the real docker-registry on loopback,
 * built by `rootfs from-docker` with its defaults (init auto, the builtin guest runner),
 * booted by `rootfs run` on qemu with the machine's Debian kernel and initrd, one job each.
 * The image config's ENV, USER and WORKDIR travel from the registry into the guest.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ALPINE_X86, prerequisites, tempDir } from '../helpers/env.js';
import { assertClean } from '../helpers/image.js';
import { BOOT_TOOLS, busyboxOnlyDir, debianMinbaseDir, isStaticElf, kernelFiles } from '../helpers/boot.js';
import { runCli } from '../helpers/cli.js';
import { LayoutWriter, pushLayout } from '../helpers/oci-build.js';
import { startRegistry } from '../helpers/registry.js';

const STATIC_BUSYBOX = '/bin/busybox';

interface Case {
  name: string;
  layer: (scratch: string) => string;
  config: { env: string[]; extra: Record<string, unknown> };
  init: string;
  code: string;
  stdout: string;
}

const cases: Case[] = [
  {
    name: 'alpine',
    layer: () => ALPINE_X86,
    config: { env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello from alpine'], extra: { WorkingDir: '/srv', User: 'nobody' } },
    init: 'busybox',
    code: 'echo "$GREETING"; pwd; id -un',
    stdout: 'hello from alpine\n/srv\nnobody\n',
  },
  {
    name: 'debian',
    layer: (scratch) => tarOf(debianMinbaseDir(), join(scratch, 'debian.tar')),
    config: { env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8'], extra: { WorkingDir: '/var/tmp', User: 'nobody' } },
    init: 'minimal',
    code: 'echo "$LANG"; pwd; id -un; test ! -e /bin/busybox && echo no-busybox',
    stdout: 'C.UTF-8\n/var/tmp\nnobody\nno-busybox\n',
  },
  {
    name: 'busybox-only',
    layer: (scratch) => tarOf(busyboxOnlyDir(scratch, STATIC_BUSYBOX), join(scratch, 'busybox.tar')),
    config: { env: ['PATH=/bin'], extra: {} },
    init: 'busybox',
    code: 'echo only busybox; ls /bin | wc -l',
    stdout: 'only busybox\n',
  },
];

function tarOf(dir: string, file: string): string {
  execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-cf', file, '-C', dir, '.']);
  return file;
}

t.test('from-docker from the registry, then rootfs run: Alpine, Debian minbase, busybox only', async (t) => {
  const needs = { tools: [...BOOT_TOOLS, 'debootstrap', 'docker-registry', 'skopeo'], files: [ALPINE_X86, STATIC_BUSYBOX, ...kernelFiles()] };
  if (!prerequisites(t, needs)) return;
  if (!isStaticElf(STATIC_BUSYBOX)) {
    t.fail(`${STATIC_BUSYBOX} is not static: install busybox-static`);
    return;
  }
  const scratch = tempDir(t);
  const registry = await startRegistry(t);
  const layout = new LayoutWriter(join(scratch, 'layout'));
  for (const c of cases) {
    const image = layout.addImage({ platform: { os: 'linux', architecture: 'amd64' }, layers: [c.layer(scratch)], env: c.config.env, extra: c.config.extra });
    layout.tagImage(image, c.name);
    await pushLayout(layout.dir, c.name, `${registry.host}/boot/${c.name}:latest`);
  }
  const env = { ...process.env, INFRA_OPERATOR_IMAGES_DIR: join(scratch, 'images'), INFRA_OPERATOR_CACHE_DIR: join(scratch, 'cache') };
  execFileSync('mkdir', ['-p', env.INFRA_OPERATOR_IMAGES_DIR]);
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const built = await runCli(['rootfs', 'from-docker', '-n', c.name, '-i', `${registry.host}/boot/${c.name}:latest`, '-s', 'auto', '--json'], { timeoutMs: 300_000, env });
      t.equal(built.status, 0, 'built', { stderr: built.stderr.slice(-2000) });
      const doc = JSON.parse(built.stdout) as { path: string; boot: { init: string; service: string } };
      t.equal(doc.boot.init, c.init, `init ${c.init} chosen`);
      t.equal(doc.boot.service, '/etc/init.d/S99guest');
      assertClean(t, doc.path, scratch);
      const run = await runCli(['rootfs', 'run', c.name, '--code', c.code, '--timeout', '30', '--console'], { timeoutMs: 400_000, env });
      if (run.status !== 0) t.comment(run.stderr.slice(-3000));
      t.equal(run.status, 0, 'the job ran and succeeded');
      const result = JSON.parse(run.stdout) as Record<string, unknown>;
      t.equal(result.status, 'success');
      t.equal(result.exitCode, 0);
      t.match(String(result.trace_id), /^tr-\d+$/);
      if (c.name === 'busybox-only') t.match(String(result.stdout), /^only busybox\n\d+\n$/);
      else t.equal(result.stdout, c.stdout, 'the image ENV, WORKDIR and USER reached the job');
      t.match(run.stderr, /infra\.operator guest: ready/, 'the ready line');
      t.match(run.stderr, /reboot: Power down/, 'a clean power-off');
      assertClean(t, doc.path, scratch);
    });
  }
});

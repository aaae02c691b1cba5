/**
 * `rootfs create` as a library call, rootless: open a Debian-family base image as
 * from-docker does, resolve and fetch the language's packages (the repository side,
 * src/packages/deb/resolve.ts), unpack them into the tree with dpkg's semantics, record
 * them in its dpkg database, make it bootable and write the ext4 image.
 */
import { join } from 'node:path';
import { InfraError, printable } from '../errors.js';
import type { ProgressEvent } from '../events.js';
import { Ext4Writer, type Ext4Summary } from '../ext4/writer.js';
import { EXT4_LINK_MAX } from '../ext4/format.js';
import { type RootfsSize, parseRootfsSize } from '../ext4/size.js';
import { defaultCacheDir } from '../image/cache.js';
import { openImage, type OpenImageOptions } from '../image/index.js';
import type { Image } from '../image/types.js';
import { flatten } from '../layers/flatten.js';
import { checkConfigureMode, configureStatically, CONFIGURE_FILES_READ, unconfiguredNote, type ConfigureMode, type ConfigureReport } from '../packages/configure/configure.js';
import { DpkgDatabase, type UnpackedDeb } from '../packages/deb/dpkg-db.js';
import { checkLanguage, fallbackPackage, languagePackages, type PackageFamily } from '../packages/deb/languages.js';
import { ApkDatabase } from '../packages/apk/db.js';
import { fetchApks } from '../packages/apk/fetch.js';
import { ApkInstaller } from '../packages/apk/unpack.js';
import { resolveDebs, type Requested } from '../packages/deb/resolve.js';
import type { ResolvedDeb } from '../packages/deb/types.js';
import { DebInstaller } from '../packages/deb/unpack.js';
import { BASE_FILES_READ, RetainedFiles, type ReadTreeFile } from '../packages/retained.js';
import { TreeEditor } from '../tree/edit.js';
import { inventedTime, type DataSink, type DirInode } from '../tree/tree.js';
import { makeBootable, type BootReport } from '../boot/bootable.js';
import { hostnameFor } from '../boot/files.js';
import type { SidecarV2 } from '../store/sidecar.js';
import { bombBudget, countingSink, outputPath, recordSidecar } from './build.js';
import { preflight } from './preflight.js';
import { DEFAULT_CREATE_SIZE_MB } from './defaults.js';

export { CONFIGURE_MODES, type ConfigureMode } from '../packages/configure/configure.js';

/** What the repository side is asked for. */
export interface DebRequest {
  /** The base tree, and its files that can be read back (dpkg status, apt sources, keyrings). */
  tree: DirInode;
  readFile: ReadTreeFile;
  /** One-line sources (`deb URL SUITE COMPONENTS`); none: the base's own apt sources. */
  sources: string[];
  packages: Requested[];
  arch: 'amd64';
  cacheDir: string;
  /** Steps `repositories`, `resolve` and `fetch` start, told through the command's channel. */
  onEvent?: (event: CreateEvent) => void;
}

/** Resolves and downloads packages: dependencies first, each .deb verified. */
export type DebResolver = (request: DebRequest) => Promise<ResolvedDeb[]>;

export interface CreateOptions extends OpenImageOptions {
  lang: string;
  /** Image reference, or `alpine` (the default, Docker Hub's alpine:3.20), `debian` / `ubuntu`. */
  base?: string;
  packages?: string[];
  repositories?: string[];
  /** MiB, or 'auto'. */
  size?: RootfsSize | string;
  output?: string;
  imagesDir?: string;
  uuid?: string;
  /** How maintainer scripts' effects are made (default auto; only static is built). */
  configure?: ConfigureMode;
  /** Where downloaded .debs are kept (default `<blob cache>/debs`). */
  cacheDir?: string;
  /** The one progress channel: each of CREATE_STEPS as it starts, bytes pulled, the size chosen, warnings. */
  onEvent?: (event: CreateEvent) => void;
  /** The repository side; default src/packages/deb/resolve.ts. */
  resolve?: DebResolver;
  env?: NodeJS.ProcessEnv;
}

export interface CreateResult {
  path: string;
  base: Image;
  packages: Array<{ package: string; version: string; architecture: string }>;
  summary: Ext4Summary;
  sidecar: SidecarV2;
  boot: BootReport;
  /** Which packages the static configuration completed, and which stay unpacked. */
  configuration: ConfigureReport;
}

/** The steps of `rootfs create`, in order; the CLI words them. */
export const CREATE_STEPS = ['pull', 'repositories', 'resolve', 'fetch', 'unpack', 'configure', 'boot', 'write'] as const;
export type CreateStep = (typeof CREATE_STEPS)[number];
export type CreateEvent = ProgressEvent<CreateStep>;

/** Short base names: the images they mean. */
const BASE_ALIASES: Readonly<Record<string, string>> = { alpine: 'alpine:3.20', debian: 'debian:bookworm-slim', ubuntu: 'ubuntu:24.04' };

export async function createRootfs(options: CreateOptions): Promise<CreateResult> {
  const emit = options.onEvent ?? (() => {});
  checkLanguage(options.lang);
  const reference = baseReference(options.base ?? 'alpine');
  const size = parseRootfsSize(options.size ?? DEFAULT_CREATE_SIZE_MB);
  const path = outputPath({ name: options.lang, ...pick(options) });
  const { notes } = checkConfigureMode(options.configure ?? 'auto');
  await preflight({
    ...options,
    image: reference,
    imageOption: 'base',
    guestRunner: 'builtin',
    path,
    pathOption: options.output ? 'output' : 'imagesDir',
    size,
  });
  emit({ type: 'step', step: 'pull', facts: { reference } });
  const base = await openImage(reference, { ...options, onProgress: (layer, bytes, total) => emit({ type: 'pull', layer, bytes, total }) });
  try {
    const time = inventedTime(options.env, base.created);
    const writer = await Ext4Writer.create(path, {
      size,
      contentKey: () => `${base.digest}\0${options.lang}\0${(options.packages ?? []).join(',')}`,
      time,
      label: options.lang,
      ...(options.uuid ? { uuid: options.uuid } : {}),
    });
    try {
      const retained = new RetainedFiles([...BASE_FILES_READ, ...CONFIGURE_FILES_READ]);
      const sink = retained.sink(countingSink(writer, () => {}));
      const { root } = await flatten(base, sink, { ...(await bombBudget(path, size, options.env)), time, maxLinks: EXT4_LINK_MAX, members: (m) => retained.members(m) });
      const readFile = retained.reader(root);
      const family = packageFamily(readFile, reference);
      const editor = new TreeEditor(root, sink, time);
      const install = family === 'alpine' ? installApks : installDebs;
      const { installed, configuration } = await install({ options, root, readFile, sink, editor, retained, notes, emit });
      emit({ type: 'step', step: 'boot' });
      const boot = await makeBootable(root, writer, {
        init: 'auto',
        guestRunner: 'builtin',
        config: { ...base.config, env: withPath(base.config.env) },
        hostname: hostnameFor(options.lang),
        time,
      });
      for (const text of boot.warnings) emit({ type: 'warning', text });
      emit({ type: 'step', step: 'write' });
      const summary = await writer.finish(root);
      emit({ type: 'size', bytes: summary.sizeBytes, auto: size === 'auto' });
      const sidecar = await recordSidecar(path, options.lang, base, summary);
      return { path, base, packages: installed, summary, sidecar, boot, configuration };
    } catch (err) {
      await writer.abort();
      throw err;
    }
  } finally {
    await base.close?.();
  }
}

function pick(options: CreateOptions): { output?: string; imagesDir?: string; env?: NodeJS.ProcessEnv } {
  return {
    ...(options.output ? { output: options.output } : {}),
    ...(options.imagesDir ? { imagesDir: options.imagesDir } : {}),
    ...(options.env ? { env: options.env } : {}),
  };
}

function baseReference(base: string): string {
  return BASE_ALIASES[base] ?? base;
}

/** os-release(5) ID and ID_LIKE: Alpine takes .apk packages, Debian and its derivatives .debs. */
function packageFamily(readFile: ReadTreeFile, reference: string): PackageFamily {
  const text = (readFile('/etc/os-release') ?? readFile('/usr/lib/os-release'))?.toString('utf8') ?? '';
  const value = (key: string) => new RegExp(`^${key}=["']?([^"'\\n]*)`, 'm').exec(text)?.[1] ?? '';
  const family = `${value('ID')} ${value('ID_LIKE')}`.split(/\s+/);
  if (family.includes('alpine')) return 'alpine';
  if (family.includes('debian') || family.includes('ubuntu')) return 'debian';
  throw new InfraError('INPUT', `The base image ${reference} is neither Alpine nor Debian-family (os-release ID "${printable(value('ID').slice(0, 64)) || 'missing'}"), so it takes neither .apk nor .deb packages.`, {
    option: 'base',
    hint: 'pass an Alpine, Debian or Ubuntu image to {base}',
  });
}

/** What the family's installer is handed, and what it gives back. */
interface InstallContext {
  options: CreateOptions;
  root: DirInode;
  readFile: ReadTreeFile;
  sink: DataSink;
  editor: TreeEditor;
  retained: RetainedFiles;
  /** The configure mode's notes, told when something stays unconfigured. */
  notes: readonly string[];
  emit: (event: CreateEvent) => void;
}
interface Installed {
  installed: CreateResult['packages'];
  configuration: ConfigureReport;
}

/** The deb path: resolve (the repository side), unpack with dpkg's semantics, configure statically, the dpkg database. */
async function installDebs({ options, root, readFile, sink, editor, retained, notes, emit }: InstallContext): Promise<Installed> {
  const resolve = options.resolve ?? (await repositorySide());
  const debs = await resolve({
    tree: root,
    readFile,
    sources: options.repositories ?? [],
    packages: [...languagePackages(options.lang), ...(options.packages ?? []).map((name) => withFallback(options.lang, name))],
    arch: 'amd64',
    cacheDir: options.cacheDir ?? join(defaultCacheDir(), 'debs'),
    onEvent: emit,
  });
  emit({ type: 'step', step: 'unpack', facts: { packages: debs.length } });
  const db = DpkgDatabase.read(readFile);
  const installer = new DebInstaller(root, sink, db, (members) => retained.members(members));
  const unpacked: UnpackedDeb[] = [];
  for (const deb of debs) unpacked.push(await installer.install(deb));
  emit({ type: 'step', step: 'configure' });
  const configuration = await configureStatically({ editor, readFile, db, packages: unpacked, arch: 'amd64' });
  const unconfigured = unconfiguredNote(configuration);
  // The mode's note matters only when something was left for the pass it stands for.
  if (unconfigured !== undefined) for (const text of [...notes, unconfigured]) emit({ type: 'warning', text });
  await db.write(editor);
  const installed = debs.map(({ stanza }) => ({ package: stanza.package, version: stanza.version, architecture: stanza.architecture }));
  return { installed, configuration };
}

/**
 * The apk path: the image's repositories and keys (or --repository), resolution, downloads
 * into the cache, unpacking with apk's checks, the apk database and world. Scripts and
 * triggers are not run: a package that has any is reported unconfigured.
 */
async function installApks({ options, root, readFile, sink, editor, notes, emit }: InstallContext): Promise<Installed> {
  emit({ type: 'step', step: 'repositories' });
  const requested = [...languagePackages(options.lang, 'alpine'), ...(options.packages ?? [])];
  const apks = await fetchApks({
    root,
    readFile,
    repositories: options.repositories ?? [],
    packages: requested,
    cacheDir: options.cacheDir ?? join(defaultCacheDir(), 'apks'),
    progress: (event) => {
      if (event.kind === 'resolved') emit({ type: 'step', step: 'resolve', facts: { packages: event.packages } });
    },
  });
  emit({ type: 'step', step: 'fetch', facts: { packages: apks.length } });
  emit({ type: 'step', step: 'unpack', facts: { packages: apks.length } });
  const db = await ApkDatabase.read({ root, readFile });
  const installer = new ApkInstaller(root, sink, db);
  const configuration: ConfigureReport = { configured: [], unconfigured: [] };
  for (const apk of apks) {
    const unpacked = await installer.install(apk);
    const steps = [...unpacked.scripts.keys()].filter((name) => name !== 'trigger' || unpacked.triggers.length > 0);
    if (steps.length > 0) configuration.unconfigured.push({ package: unpacked.name, steps });
    else configuration.configured.push(unpacked.name);
  }
  emit({ type: 'step', step: 'configure' });
  if (configuration.unconfigured.length > 0) {
    const names = configuration.unconfigured.map((entry) => `${entry.package} (${entry.steps.join(', ')})`).join('; ');
    for (const text of [...notes, `apk scripts are not run yet; these packages' scripts did nothing: ${names}`]) emit({ type: 'warning', text });
  }
  db.addWorld(requested);
  await db.write(editor);
  const installed = apks.map(({ entry }) => ({ package: entry.name, version: entry.version, architecture: entry.arch }));
  return { installed, configuration };
}

/** An extra package, and the name to install when the repositories have no package by that name. */
function withFallback(lang: string, name: string): Requested {
  const fallback = fallbackPackage(lang, name);
  return fallback === undefined ? name : [name, fallback];
}

/** The repository side (src/packages/deb/resolve.ts), its progress told as this command's steps. */
async function repositorySide(): Promise<DebResolver> {
  return (request) => {
    request.onEvent?.({ type: 'step', step: 'repositories' });
    let repositories = 0;
    return resolveDebs({
      ...request,
      progress: (event) => {
        if (event.kind === 'repository') repositories++;
        else if (event.kind === 'resolved') {
          request.onEvent?.({ type: 'step', step: 'resolve', facts: { repositories, packages: event.packages } });
          request.onEvent?.({ type: 'step', step: 'fetch', facts: { packages: event.packages, bytes: event.bytes } });
        }
      },
    });
  };
}

/** Debian images set no PATH in their config; the guest runner looks interpreters up on it. */
function withPath(env: readonly string[]): string[] {
  return env.some((entry) => entry.startsWith('PATH=')) ? [...env] : ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env];
}

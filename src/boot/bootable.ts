/**
 * Makes an image tree boot as a Firecracker root filesystem: an init (the image's
 * OpenRC, BusyBox init, or a minimal sh init of our own), the guest runner at
 * /usr/local/bin/infra.operator, the S99guest boot service, the image config for the
 * runner, and the files every VM needs (hostname, hosts, resolv.conf, fstab, mount points).
 * Edits the tree in place; file bytes go through the DataSink. See docs/boot.md.
 */
import { readFile, stat } from 'node:fs/promises';
import { InfraError } from '../errors.js';
import type { ImageRuntimeConfig } from '../image/types.js';
import { toolMeta } from '../tree/tree.js';
import type { DataSink, DeviceInode, DirInode, Timestamp } from '../tree/tree.js';
import {
  GUEST_PATHS,
  busyboxInittab,
  consoleLine,
  fstab,
  hostnameFile,
  hostsFile,
  imageEnv,
  imageJson,
  minimalInit,
  openrcInittab,
  openrcService,
  rcK,
  rcS,
  rcsService,
  resolvConf,
  runnerConf,
} from './files.js';
import { GUEST_RUNNER_SCRIPT } from '../guest/runner-script.js';
import { TreeEditor, firstFile, isFile, lookup, resolvePath } from '../tree/edit.js';

export type InitChoice = 'auto' | 'openrc' | 'busybox' | 'minimal' | 'none';
export type InitKind = Exclude<InitChoice, 'auto'>;

export interface BootOptions {
  init: InitChoice;
  /** 'builtin' (the sh runner), 'none', or a host path to a binary to install instead. */
  guestRunner: string;
  /** Arguments S99guest passes to the runner; default `guest`. */
  guestArgs?: string[];
  config: ImageRuntimeConfig;
  /** The VM's hostname (from the rootfs name; see hostnameFor). */
  hostname: string;
  /** Stamped on everything written (SOURCE_DATE_EPOCH-based, never the wall clock). */
  time: Timestamp;
  /** Called as each part of the set-up starts, in BOOT_PARTS order (the CLI's steps 4 to 6). */
  onPart?: (part: BootPart) => void;
}

/** The three parts of making a tree bootable, in the order they run. */
export const BOOT_PARTS = ['init', 'runner', 'service'] as const;
export type BootPart = (typeof BOOT_PARTS)[number];

export interface BootReport {
  init: InitKind;
  /** One line for the CLI's "[4/6] Configuring init system" step. */
  initDetail: string;
  runner: 'builtin' | 'custom' | 'none';
  /** One line for "[5/6] Installing guest-runner". */
  runnerDetail: string;
  /** The boot service path, or undefined when no runner is installed. */
  service: string | undefined;
  /** One line for "[6/6] Creating service". */
  serviceDetail: string;
  /** Every path created or replaced, in order. */
  written: string[];
  warnings: string[];
}

const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox', '/sbin/busybox', '/usr/sbin/busybox'];
const OPENRC_PATHS = ['/sbin/openrc', '/usr/sbin/openrc', '/bin/openrc', '/usr/bin/openrc'];
const LOGIN_PATHS = ['/bin/login', '/usr/bin/login'];

/**
 * OpenRC services linked into runlevels when the image has their scripts (Alpine's
 * alpine-base layout): the early mounts, and at shutdown the read-only remount that
 * leaves the journal clean.
 */
const OPENRC_LEVELS: ReadonlyArray<[level: string, services: string[]]> = [
  ['sysinit', ['devfs', 'procfs', 'sysfs', 'dmesg', 'mdev']],
  ['boot', ['hostname', 'bootmisc']],
  ['shutdown', ['killprocs', 'mount-ro', 'savecache']],
];

/** What the image brings that decides how it can boot. */
interface ImageFacts {
  hasShell: boolean;
  busybox: string | undefined; // the busybox path as found, e.g. /bin/busybox
  openrc: boolean;
  hasLogin: boolean;
}

function probe(root: DirInode): ImageFacts {
  return {
    hasShell: isFile(root, '/bin/sh'),
    busybox: firstFile(root, BUSYBOX_PATHS),
    openrc: firstFile(root, OPENRC_PATHS) !== undefined,
    hasLogin: firstFile(root, LOGIN_PATHS) !== undefined,
  };
}

/** auto: OpenRC when the image has it, else BusyBox init when it has busybox, else ours. */
function chooseInit(choice: InitChoice, facts: ImageFacts): InitKind {
  if (choice === 'none') return 'none';
  if (!facts.hasShell) {
    throw new InfraError('ROOTFS', 'The image has no /bin/sh, which every init choice and the builtin guest runner need.', {
      option: 'init',
      hint: 'use {init} none with an image that brings its own init, and {guestRunner} PATH (or none), or start from an image with a shell (alpine, debian, busybox)',
    });
  }
  if (choice === 'auto') return facts.openrc ? 'openrc' : facts.busybox ? 'busybox' : 'minimal';
  if (choice === 'openrc' && !facts.openrc) {
    throw new InfraError('ROOTFS', 'The image has no OpenRC (/sbin/openrc).', {
      option: 'init',
      hint: 'install it in the image (apk add openrc) or use {init} busybox or {init} minimal',
    });
  }
  if (choice === 'busybox' && !facts.busybox) {
    throw new InfraError('ROOTFS', 'The image has no busybox binary.', { option: 'init', hint: 'use {init} minimal (any POSIX sh) instead' });
  }
  return choice;
}

/** A small editor bound to one tree, recording what it writes. */
class Editor {
  readonly written: string[] = [];
  private readonly tree: TreeEditor;

  constructor(
    readonly root: DirInode,
    sink: DataSink,
    readonly time: Timestamp,
  ) {
    this.tree = new TreeEditor(root, sink, time);
  }

  async file(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
    await this.tree.putFile(path, data, mode);
    this.written.push(path);
  }

  symlink(path: string, target: string): void {
    this.tree.putSymlink(path, target);
    this.written.push(`${path} -> ${target}`);
  }

  dir(path: string, mode = 0o755, forceMode = false): void {
    this.tree.ensureDir(path, mode, forceMode);
  }

  /** A device node, only when nothing is there (devtmpfs normally covers /dev). */
  device(path: string, major: number, minor: number, mode: number): void {
    const at = resolvePath(this.root, path, false);
    if (at === undefined || at.inode !== undefined) return;
    const node: DeviceInode = { kind: 'char', ...toolMeta(mode, this.time), major, minor };
    at.parent.children.set(at.name, node);
    this.written.push(path);
  }
}

export async function makeBootable(root: DirInode, sink: DataSink, options: BootOptions): Promise<BootReport> {
  const starting = options.onPart ?? (() => {});
  // Init none and guest runner none is a plain conversion: the tree is left exactly as it is.
  if (options.init === 'none' && options.guestRunner === 'none') {
    for (const part of BOOT_PARTS) starting(part);
    return { init: 'none', initDetail: 'none', runner: 'none', runnerDetail: 'none', service: undefined, serviceDetail: 'none', written: [], warnings: [] };
  }
  starting('init');
  const facts = probe(root);
  const init = chooseInit(options.init, facts);
  const edit = new Editor(root, sink, options.time);
  const warnings: string[] = [];

  await writeSystemFiles(edit, options.hostname);
  const initDetail = await installInit(edit, init, facts, warnings);
  starting('runner');
  const { runner, runnerDetail } = await installRunner(edit, options.guestRunner);
  await writeRunnerConfig(edit, init, options.config, warnings);

  starting('service');
  let service: string | undefined;
  let serviceDetail = 'no guest runner: no boot service';
  if (runner !== 'none') {
    const args = options.guestArgs ?? ['guest'];
    service = GUEST_PATHS.service;
    if (init === 'openrc') {
      await edit.file(service, openrcService(args), 0o755);
      edit.symlink(`/etc/runlevels/default/${basename(service)}`, service);
      serviceDetail = `${service} (OpenRC, default runlevel)`;
    } else {
      await edit.file(service, rcsService(args), 0o755);
      serviceDetail = `${service} (started by rcS)`;
      if (init === 'none') warnings.push(`with init none, the image's own init must run ${service} start`);
    }
  }
  return { init, initDetail, runner, runnerDetail, service, serviceDetail, written: edit.written, warnings };
}

/** Mount points and the files every VM needs, whatever its init. */
async function writeSystemFiles(edit: Editor, hostname: string): Promise<void> {
  for (const dir of ['/home', '/var/log', '/run', '/proc', '/sys', '/dev', GUEST_PATHS.confDir]) edit.dir(dir);
  edit.dir('/root', 0o700);
  edit.dir('/tmp', 0o1777, true);
  // Boots without an initrd and without devtmpfs automount still get a console.
  edit.device('/dev/console', 5, 1, 0o600);
  edit.device('/dev/null', 1, 3, 0o666);
  await edit.file('/etc/hostname', hostnameFile(hostname));
  await edit.file('/etc/hosts', hostsFile(hostname));
  await edit.file('/etc/resolv.conf', resolvConf());
  await edit.file('/etc/fstab', fstab());
}

async function installInit(edit: Editor, init: InitKind, facts: ImageFacts, warnings: string[]): Promise<string> {
  switch (init) {
    case 'none':
      return 'none: the image boots with its own init';
    case 'busybox': {
      const busybox = realPathOf(edit.root, facts.busybox!);
      edit.symlink(GUEST_PATHS.init, busybox);
      await edit.file(GUEST_PATHS.inittab, busyboxInittab(consoleLine(busybox, facts.hasLogin)));
      await edit.file(GUEST_PATHS.rcS, rcS(), 0o755);
      await edit.file(GUEST_PATHS.rcK, rcK(), 0o755);
      return `BusyBox init (${GUEST_PATHS.init} -> ${busybox}, ${GUEST_PATHS.inittab}, ${GUEST_PATHS.rcS})`;
    }
    case 'minimal':
      await edit.file(GUEST_PATHS.init, minimalInit(), 0o755);
      await edit.file(GUEST_PATHS.rcS, rcS(), 0o755);
      await edit.file(GUEST_PATHS.rcK, rcK(), 0o755);
      return `minimal sh init (${GUEST_PATHS.init}, ${GUEST_PATHS.rcS})`;
    case 'openrc':
      return installOpenrc(edit, facts, warnings);
  }
}

/** The image's OpenRC, started by BusyBox init the way Alpine does it. */
async function installOpenrc(edit: Editor, facts: ImageFacts, warnings: string[]): Promise<string> {
  const root = edit.root;
  const notes: string[] = [];
  if (lookup(root, GUEST_PATHS.init) === undefined) {
    if (isFile(root, '/sbin/openrc-init')) {
      edit.symlink(GUEST_PATHS.init, 'openrc-init');
      notes.push(`${GUEST_PATHS.init} -> openrc-init`);
    } else if (facts.busybox) {
      const busybox = realPathOf(root, facts.busybox);
      edit.symlink(GUEST_PATHS.init, busybox);
      notes.push(`${GUEST_PATHS.init} -> ${busybox}`);
    } else {
      throw new InfraError('ROOTFS', 'The image has OpenRC but no /sbin/init, openrc-init or busybox to start it.', { option: 'init', hint: 'use {init} minimal' });
    }
  }
  // Alpine's stock inittab starts gettys on tty1..6, which a microVM lacks: write ours.
  if (isBusyboxInit(root)) {
    const busybox = realPathOf(root, facts.busybox!);
    await edit.file(GUEST_PATHS.inittab, openrcInittab(consoleLine(busybox, facts.hasLogin)));
    notes.push(GUEST_PATHS.inittab);
  }
  for (const [level, services] of OPENRC_LEVELS) {
    for (const svc of services) {
      if (!isFile(root, `/etc/init.d/${svc}`)) {
        if (level === 'sysinit' && ['devfs', 'procfs', 'sysfs'].includes(svc)) {
          warnings.push(`OpenRC service ${svc} is missing from /etc/init.d`);
        }
        continue;
      }
      const link = `/etc/runlevels/${level}/${svc}`;
      if (resolvePath(root, link, false)?.inode === undefined) edit.symlink(link, `/etc/init.d/${svc}`);
    }
  }
  return `OpenRC (${['sysinit and boot runlevels', ...notes].join(', ')})`;
}

function isBusyboxInit(root: DirInode): boolean {
  const init = resolvePath(root, GUEST_PATHS.init);
  return init !== undefined && /\/busybox$/.test(init.realPath);
}

/**
 * A custom guest runner (`guestRunner` other than builtin or none) must be a regular file
 * with an execute bit: the boot service starts it as a program. Checked before any work.
 */
export async function checkGuestRunner(choice: string): Promise<void> {
  if (choice === 'builtin' || choice === 'none') return;
  let info;
  try {
    info = await stat(choice);
  } catch (err) {
    throw runnerError(choice, (err as Error).message, err);
  }
  if (!info.isFile()) throw runnerError(choice, 'it is not a regular file');
  // It is installed 0755 whatever its mode here; a file nobody may execute is most likely not the program meant.
  if ((info.mode & 0o111) === 0) throw runnerError(choice, `it is not executable (mode ${(info.mode & 0o7777).toString(8)})`);
}

function runnerError(choice: string, why: string, cause?: unknown): InfraError {
  return new InfraError('INPUT', `Cannot use the guest runner ${choice}: ${why}.`, {
    option: 'guestRunner',
    path: choice,
    hint: 'give {guestRunner} an executable file (chmod +x), or builtin, or none',
    ...(cause === undefined ? {} : { cause }),
  });
}

async function installRunner(
  edit: Editor,
  choice: string,
): Promise<{ runner: BootReport['runner']; runnerDetail: string }> {
  if (choice === 'none') return { runner: 'none', runnerDetail: 'none' };
  edit.dir('/usr/local/bin');
  if (choice === 'builtin') {
    await edit.file(GUEST_PATHS.runner, GUEST_RUNNER_SCRIPT, 0o755);
    return { runner: 'builtin', runnerDetail: `builtin sh runner at ${GUEST_PATHS.runner}` };
  }
  let binary: Buffer;
  try {
    binary = await readFile(choice);
  } catch (err) {
    throw runnerError(choice, (err as Error).message, err);
  }
  await edit.file(GUEST_PATHS.runner, binary, 0o755);
  return { runner: 'custom', runnerDetail: `${choice} installed at ${GUEST_PATHS.runner}` };
}

async function writeRunnerConfig(edit: Editor, init: InitKind, config: ImageRuntimeConfig, warnings: string[]): Promise<void> {
  const singleLine = { ...config };
  for (const key of ['user', 'workingDir'] as const) {
    if (/[\n\r]/.test(config[key])) {
      warnings.push(`image ${key} holds a line break; the runner ignores it`);
      singleLine[key] = '';
    }
  }
  const env = imageEnv(config.env);
  for (const entry of env.skipped) warnings.push(`ENV entry not exportable by sh, left out of image.env: ${entry}`);
  await edit.file(GUEST_PATHS.imageJson, imageJson(config));
  await edit.file(GUEST_PATHS.imageEnv, env.text);
  await edit.file(GUEST_PATHS.runnerConf, runnerConf(init, singleLine));
}

function realPathOf(root: DirInode, path: string): string {
  return resolvePath(root, path)?.realPath ?? path;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

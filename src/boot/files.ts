/**
 * The text of every file the boot setup writes, as plain functions of their inputs, so
 * that the same bytes can go into the in-memory tree (bootable.ts) or a test directory.
 *
 * Every shell script here is POSIX sh and runs on busybox ash, dash and bash; each uses
 * only commands present in busybox and in Debian's minbase (mount, grep, awk, sed…).
 */
import type { ImageRuntimeConfig } from '../image/types.js';

/** Where things live in the guest. The layout follows the seed (docs/boot.md). */
export const GUEST_PATHS = {
  runner: '/usr/local/bin/infra.operator',
  service: '/etc/init.d/S99guest',
  rcS: '/etc/init.d/rcS',
  rcK: '/etc/init.d/rcK',
  init: '/sbin/init',
  inittab: '/etc/inittab',
  confDir: '/etc/infra.operator',
  /** The image config in the OCI image-spec's own field names. */
  imageJson: '/etc/infra.operator/image.json',
  /** The image's ENV as `export NAME='value'` lines: safe to source. */
  imageEnv: '/etc/infra.operator/image.env',
  /** key=value lines the runner reads (never sources): init, user, workdir. */
  runnerConf: '/etc/infra.operator/runner.conf',
} as const;

/** The serial console Firecracker (and our qemu boot) gives the guest. */
export const CONSOLE_TTY = 'ttyS0';

const PATH_LINE = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n';

/** `s` as one single-quoted sh word. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * BusyBox init's table (busybox init/init.c documents the format): rcS at boot, a
 * console on the serial line, rcK before power-off/reboot.
 */
export function busyboxInittab(consoleLine: string): string {
  return [
    '# Written by infra.operator for BusyBox init.',
    '::sysinit:/etc/init.d/rcS',
    consoleLine,
    '::ctrlaltdel:/sbin/reboot',
    '::shutdown:/etc/init.d/rcK',
    '',
  ].join('\n');
}

/**
 * The console entry: a getty when the image can log in, else a shell on Enter (an image
 * with only busybox has no /bin/login for getty to start).
 */
export function consoleLine(busybox: string, hasLogin: boolean): string {
  return hasLogin
    ? `${CONSOLE_TTY}::respawn:${busybox} getty -L 115200 ${CONSOLE_TTY} vt100`
    : `${CONSOLE_TTY}::askfirst:-/bin/sh`;
}

/** The inittab that hands the system to OpenRC (Alpine's own layout), with a serial console. */
export function openrcInittab(consoleEntry: string): string {
  return [
    '# Written by infra.operator: BusyBox init running OpenRC.',
    '::sysinit:/sbin/openrc sysinit',
    '::sysinit:/sbin/openrc boot',
    '::wait:/sbin/openrc default',
    consoleEntry,
    '::ctrlaltdel:/sbin/reboot',
    '::shutdown:/sbin/openrc shutdown',
    '',
  ].join('\n');
}

/** Brings the system up: mounts, hostname, loopback, then every /etc/init.d/S??* in order. */
export function rcS(): string {
  return `#!/bin/sh
# Written by infra.operator: system start (BusyBox init's sysinit, or the minimal init).
${PATH_LINE}
mounted() { grep -q " $1 " /proc/mounts 2>/dev/null; }
mount_fs() { # TYPE DIR OPTIONS
  mkdir -p "$2"
  mounted "$2" || mount -t "$1" -o "$3" "$1" "$2"
}

mounted /proc || mount -t proc -o nosuid,nodev,noexec proc /proc
mount -o remount,rw / 2>/dev/null
mount_fs sysfs /sys nosuid,nodev,noexec
mount_fs devtmpfs /dev mode=0755,nosuid
mount_fs devpts /dev/pts gid=5,mode=0620,ptmxmode=0666,nosuid,noexec
mount_fs tmpfs /dev/shm mode=1777,nosuid,nodev
mount_fs tmpfs /run mode=0755,nosuid,nodev
mount_fs tmpfs /tmp mode=1777,nosuid,nodev

if [ -s /etc/hostname ]; then
  read -r name < /etc/hostname
  printf '%s\\n' "$name" > /proc/sys/kernel/hostname
fi

if command -v ip >/dev/null 2>&1; then
  ip link set lo up
elif command -v ifconfig >/dev/null 2>&1; then
  ifconfig lo 127.0.0.1 up
elif command -v perl >/dev/null 2>&1; then
  # Debian minbase has perl but no ip: SIOCSIFFLAGS (0x8914) with IFF_UP|IFF_LOOPBACK|
  # IFF_RUNNING; the kernel gives lo 127.0.0.1 itself when it comes up.
  perl -e 'use Socket; socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!\\n";
    my $req = pack("a16 s x22", "lo", 0x49); ioctl($s, 0x8914, $req) or die "lo: $!\\n"'
else
  echo "rcS: neither ip nor ifconfig in this image: loopback stays down" >&2
fi

for service in /etc/init.d/S??*; do
  [ -x "$service" ] && "$service" start
done
exit 0
`;
}

/**
 * Stops the system before power-off: services in reverse order, every process, then the
 * filesystems read-only so the journal is clean. (BusyBox init kills processes only
 * after its shutdown actions, too late for the remount.)
 */
export function rcK(): string {
  return `#!/bin/sh
# Written by infra.operator: system stop, before power-off or reboot.
${PATH_LINE}
for service in $(ls -r /etc/init.d/S??* 2>/dev/null); do
  [ -x "$service" ] && "$service" stop
done
kill -s TERM -1 2>/dev/null
sleep 1
kill -s KILL -1 2>/dev/null
sync
umount -a -r 2>/dev/null
mount -o remount,ro / 2>/dev/null
sync
exit 0
`;
}

/**
 * An init for images without one (Debian/Ubuntu slim): PID 1 in plain sh. It runs rcS,
 * reaps orphans (a shell's wait reaps every child, adopted ones included), and on BusyBox
 * init's signals (USR2 poweroff, TERM reboot, USR1 halt; so `busybox poweroff` works
 * too) runs rcK and asks the kernel itself through /proc/sysrq-trigger: `o` powers off,
 * `b` reboots. Writes to sysrq-trigger work whatever kernel.sysrq says.
 */
export function minimalInit(): string {
  return `#!/bin/sh
# Written by infra.operator: a minimal init (PID 1) for images that bring none.
${PATH_LINE}
stop_system() { # sysrq key: o = power off, b = reboot
  /etc/init.d/rcK
  echo "$1" > /proc/sysrq-trigger
}
trap 'stop_system o' USR2 USR1
trap 'stop_system b' TERM INT

/etc/init.d/rcS
# PID 1 must never exit (the kernel panics) and must reap orphans.
while :; do
  sleep 1 &
  wait $!
done
`;
}

/** The command line S99guest starts: the runner and its arguments, quoted for sh. */
export function runnerCommand(args: readonly string[]): string {
  return [GUEST_PATHS.runner, ...args].map(shQuote).join(' ');
}

/** S99guest for rcS: starts the runner in the background with the console as its output. */
export function rcsService(args: readonly string[]): string {
  return `#!/bin/sh
# Written by infra.operator: starts the guest runner at boot (rcS runs S??* with "start").
case "$1" in
  start|'')
    ${runnerCommand(args)} </dev/null >/dev/console 2>&1 &
    ;;
  stop) ;;
esac
exit 0
`;
}

/**
 * S99guest as an OpenRC service (openrc-run(8)), in the default runlevel. It starts the
 * runner itself rather than through start-stop-daemon's output options: Debian's OpenRC
 * uses dpkg's start-stop-daemon, which has no --stdout.
 */
export function openrcService(args: readonly string[]): string {
  return `#!/sbin/openrc-run
# Written by infra.operator: the guest runner, started once the system is up.
description="infra.operator guest runner"

depend() {
  after *
}

start() {
  ebegin "Starting infra.operator guest runner"
  ${runnerCommand(args)} </dev/null >/dev/console 2>&1 &
  eend 0
}
`;
}

/** The runner's settings: key=value lines, one value per line (no newlines allowed in values). */
export function runnerConf(init: string, config: ImageRuntimeConfig): string {
  return `init=${init}\nuser=${config.user}\nworkdir=${config.workingDir}\n`;
}

/** Environment names a shell can export. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The image ENV as a file sh can source safely: every value single-quoted. */
export function imageEnv(env: readonly string[]): { text: string; skipped: string[] } {
  const lines = ['# Written by infra.operator: the image config ENV (sourced by the guest runner).'];
  const skipped: string[] = [];
  for (const entry of env) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    if (!ENV_NAME.test(name) || eq < 0) {
      skipped.push(entry);
      continue;
    }
    lines.push(`export ${name}=${shQuote(entry.slice(eq + 1))}`);
  }
  return { text: `${lines.join('\n')}\n`, skipped };
}

/** The image config with the OCI image-spec config.md field names. */
export function imageJson(config: ImageRuntimeConfig): string {
  const oci = {
    Env: config.env,
    Entrypoint: config.entrypoint,
    Cmd: config.cmd,
    WorkingDir: config.workingDir,
    User: config.user,
  };
  return `${JSON.stringify(oci, null, 2)}\n`;
}

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

export function hostsFile(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    `127.0.1.1\t${hostname}`,
    '::1\tlocalhost ip6-localhost ip6-loopback',
    '',
  ].join('\n');
}

/** Public resolvers: the build host's own (often 127.0.0.53) would be wrong in the guest. */
export function resolvConf(): string {
  return '# Written by infra.operator; replace to suit the VM network.\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n';
}

/** The root filesystem is the VM's first virtio disk. */
export function fstab(): string {
  return '# Written by infra.operator.\n/dev/vda\t/\text4\trw,relatime\t0\t1\n';
}

/**
 * A valid hostname from the rootfs name (RFC 1123 label: letters, digits, hyphens,
 * at most 63, not starting or ending with a hyphen).
 */
export function hostnameFor(name: string): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? 'infra-operator' : label;
}

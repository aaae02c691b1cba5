/**
 * Defaults the CLI shows in its help, kept apart from the commands' code so that `--help`
 * and `--version` load none of it.
 */

/** `rootfs create --size`, in MiB: the spec's default. */
export const DEFAULT_CREATE_SIZE_MB = 1024;

/** `rootfs create --configure`: its choices. */
export { CONFIGURE_MODES, type ConfigureMode } from '../packages/configure/modes.js';

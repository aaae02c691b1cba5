/**
 * How maintainer scripts' effects are made: `static` by the handlers (configure.ts); `vm`
 * by `dpkg --configure -a` in one boot at build time (not built yet); `auto` the VM pass
 * when something is left and a VM can start, else static. Apart from the handlers so that
 * the CLI's help can list them without loading them.
 */
export const CONFIGURE_MODES = ['auto', 'static', 'vm'] as const;
export type ConfigureMode = (typeof CONFIGURE_MODES)[number];

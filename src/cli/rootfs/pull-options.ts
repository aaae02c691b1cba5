/** The flags of commands that pull an image (from-docker, create), declared once with their mapping to the library. */
import type { Argv } from 'yargs';

export interface PullArgs {
  creds?: string;
  authfile?: string;
  insecureRegistry?: string[];
  cache: boolean;
}

export function pullOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('creds', { type: 'string', describe: 'Registry credentials user:password' })
    .option('authfile', { type: 'string', describe: 'Registry auth file (auth.json or docker config.json)' })
    .option('insecure-registry', { type: 'string', array: true, describe: 'Registry host allowed over plain HTTP' })
    .option('cache', { type: 'boolean', default: true, describe: 'Use the blob cache (--no-cache to bypass)' }) as unknown as Argv<T>;
}

/** The library's options for the pull flags given. */
export function pullSettings(args: PullArgs): { creds?: string; authfile?: string; insecureRegistries?: string[]; noCache: boolean } {
  return {
    // Given, even empty, they must be usable: an empty one is refused, not ignored.
    ...(args.creds !== undefined ? { creds: args.creds } : {}),
    ...(args.authfile !== undefined ? { authfile: args.authfile } : {}),
    ...(args.insecureRegistry ? { insecureRegistries: args.insecureRegistry } : {}),
    noCache: !args.cache,
  };
}

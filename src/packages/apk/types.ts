import type { ApkDependency, ApkProvide } from './relations.js';

/**
 * One package as an APKINDEX or `/lib/apk/db/installed` record describes it (apk-tools'
 * index format, apk-v2(5)): single-letter fields, `P:` name, `V:` version, `A:` arch,
 * `C:` control-member checksum, `S:`/`I:` sizes, `D:` depends, `p:` provides, `i:`
 * install_if, `k:` provider_priority.
 */
export interface ApkEntry {
  /** Fields as written, in order (key, value). */
  fields: ReadonlyArray<readonly [string, string]>;
  name: string;
  version: string;
  arch: string;
  /** SHA-1 of the package's compressed control member (`C:Q1` + base64). */
  controlSha1: Buffer;
  /** Size of the `.apk` file (`S:`). */
  size: number;
  depends: ApkDependency[];
  provides: ApkProvide[];
  installIf: ApkDependency[];
  /** `k:`; 0 when absent. */
  providerPriority: number;
  /** The repository URL it was listed in (its `.apk` is at URL/ARCH/NAME-VERSION.apk); '' for installed ones. */
  repository: string;
}

/** A package chosen for installation, its `.apk` downloaded and checked against its index entry. */
export interface ResolvedApk {
  entry: ApkEntry;
  /** Local path of the `.apk` file. */
  file: string;
}

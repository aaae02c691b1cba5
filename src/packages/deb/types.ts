/** One binary package stanza of a Packages index (Debian Policy §5.3), fields as written. */
export interface DebStanza {
  /** Field name (as written, e.g. 'Package', 'Version', 'Depends') → value (continuation lines joined with '\n'). */
  fields: ReadonlyMap<string, string>;
  package: string;
  version: string;
  architecture: string;
}
/** A package chosen for installation, its .deb downloaded and verified against the Packages index. */
export interface ResolvedDeb {
  stanza: DebStanza;
  /** Local path of the verified .deb file. */
  file: string;
}

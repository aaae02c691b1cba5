/**
 * What every image source (registry, OCI layout, archives, plain rootfs tarball) yields,
 * so that flattening and writing never know where an image came from.
 */

/** The parts of the OCI image config the rootfs needs (image-spec config.md, `config`). */
export interface ImageRuntimeConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface LayerProgress {
  /** Called as compressed bytes of a layer arrive. */
  (layerIndex: number, bytes: number, total: number): void;
}

export interface ImageLayer {
  /** Compressed blob digest (`sha256:…`); for `tar:` sources, the file's own digest. */
  digest: string;
  /** Uncompressed digest from the config's `rootfs.diff_ids`, when known. */
  diffId?: string;
  mediaType: string;
  /** Compressed size in bytes. */
  size: number;
  /**
   * Opens the layer as an uncompressed tar stream, verifying digest, size and DiffID.
   * A chunk is valid until the consumer asks for the next one (chunks are recycled; see
   * `readFileRange`): copy what must outlive that.
   */
  open(): AsyncIterable<Buffer>;
}

export interface Image {
  /** The reference as the user gave it, with its transport (`docker://…`, `tar:…`). */
  reference: string;
  /**
   * Manifest digest, or the tarball's sha256 for `tar:` — which is known only once its
   * layer has been read (empty before). Stable for the same content.
   */
  digest: string;
  platform?: Platform;
  config: ImageRuntimeConfig;
  /** ISO 8601 `created` from the image config, when present. */
  created?: string;
  /** Bottom layer first. */
  layers: ImageLayer[];
  /**
   * Whether whiteout files (`.wh.*`) are layer markers. True for container images;
   * false for a plain rootfs tarball, whose `.wh.` names are ordinary files.
   */
  whiteouts: boolean;
  /**
   * Releases what the source holds (temporary blob directories). Call once the layers
   * have been read; absent when there is nothing to release.
   */
  close?(): Promise<void>;
}

/**
 * Applies one layer's tar members to the in-memory tree, following the rules of
 * /work/shared/notes/layers.md as documented in docs/layers.md (OCI image-spec layer.md
 * "Whiteouts" for rules 1 and 2).
 *
 * File bytes go to a `DataSink` as they stream past; the tree keeps only where they went.
 * When the last name of a file inode leaves the tree, its content is released to the sink
 * exactly once (the sink may reuse those blocks at once, so this count must be exact).
 */
import { InfraError, printable } from '../errors.js';
import type { TarEntry, TarMember } from '../tar/entry.js';
import { memberProblem, splitMemberName, type Describe } from './paths.js';
import { ContentRefs } from '../tree/links.js';
import { resolve, type Resolved } from '../tree/resolve.js';
import {
  NO_XATTRS,
  inventedTime,
  makeDir,
  toolMeta,
  type DataSink,
  type DirInode,
  type Inode,
  type InodeMeta,
  type Timestamp,
} from '../tree/tree.js';

export interface ApplyOptions {
  /** True for container image layers; false for a plain rootfs tarball (`.wh.*` are files). */
  whiteouts: boolean;
  /** Which xattrs to keep (full names); default: all but `security.selinux`. */
  keepXattr?: (name: string) => boolean;
  /** Time stamped on parent directories a layer implies; default `inventedTime()`. */
  time?: Timestamp;
  /**
   * Most names one inode may have: the target filesystem's link count limit (the builder
   * passes ext4's EXT4_LINK_MAX). A hard link beyond it is refused. Default: no limit.
   */
  maxLinks?: number;
}

export interface LayerStats {
  /** Tar members read, whatever they did. */
  entries: number;
  files: number;
  /** Directory members (not the parents the layer implied). */
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** Character and block devices, fifos. */
  devices: number;
  /** Plain and opaque whiteouts. */
  whiteouts: number;
  /** Apparent size of the regular files written. */
  bytes: number;
}

export function emptyStats(): LayerStats {
  return { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, devices: 0, whiteouts: 0, bytes: 0 };
}

export function addStats(total: LayerStats, layer: LayerStats): void {
  for (const key of Object.keys(total) as (keyof LayerStats)[]) total[key] += layer[key];
}

/** SELinux labels belong to the host that built the image, not to the microVM. */
export function defaultKeepXattr(name: string): boolean {
  return name !== 'security.selinux';
}

// OCI image-spec layer.md, "Whiteouts".
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`, `.wh..wh.orph`): skipped, never applied. */
const AUFS_META_PREFIX = '.wh..wh.';

// eStargz (stargz-snapshotter docs/stargz-estargz.md): the TOC "MUST be contained as the
// last tar entry", and the landmark files mark prefetch areas. Lazy-pull bookkeeping, not
// image content: dropped from a layer that ends with the TOC.
const ESTARGZ_TOC = 'stargz.index.json';
const ESTARGZ_METADATA = [ESTARGZ_TOC, '.prefetch.landmark', '.no.prefetch.landmark'];

// Linux include/linux/kdev_t.h new_encode_dev(), which ext4 uses: 12-bit major, 20-bit minor.
const MAX_DEVICE_MAJOR = 0xfff;
const MAX_DEVICE_MINOR = 0xfffff;
const MAX_ID = 0xffffffff; // ext4 stores 32-bit uid/gid

/**
 * Applies the members of one layer to `root`. Walks `root` once to count hard links;
 * `flatten` applies many layers with one `ContentRefs` through `applyLayerWith`.
 */
export async function applyLayer(
  root: DirInode,
  members: AsyncIterable<TarMember>,
  sink: DataSink,
  options: ApplyOptions,
): Promise<LayerStats> {
  return applyLayerWith(root, ContentRefs.ofTree(root), members, sink, options);
}

/** `applyLayer` with the caller keeping `refs` in step with `root` across layers. */
export async function applyLayerWith(
  root: DirInode,
  refs: ContentRefs,
  members: AsyncIterable<TarMember>,
  sink: DataSink,
  options: ApplyOptions,
): Promise<LayerStats> {
  const applier = new LayerApplier(root, refs, sink, options);
  for await (const member of members) {
    const writing = applier.apply(member);
    if (writing !== undefined) await writing; // only file bodies are asynchronous
  }
  applier.finish();
  return applier.stats;
}

class LayerApplier {
  readonly stats = emptyStats();
  /** Names this layer wrote (created, replaced or merged), per directory (rule 1). */
  private readonly written = new Map<DirInode, Set<string>>();
  /** Directories this layer wrote into or passed through to write something. */
  private readonly touched = new Set<DirInode>();
  private readonly keepXattr: (name: string) => boolean;
  /** Whether the member read last is an eStargz TOC (so far, the layer is eStargz). */
  private endsWithEstargzToc = false;
  private readonly time: Timestamp;

  constructor(
    private readonly root: DirInode,
    private readonly refs: ContentRefs,
    private readonly sink: DataSink,
    private readonly options: ApplyOptions,
  ) {
    this.keepXattr = options.keepXattr ?? defaultKeepXattr;
    this.time = options.time ?? inventedTime();
  }

  /** Applies one member; returns a promise only while a file body is being written. */
  apply(member: TarMember): Promise<void> | undefined {
    const { entry } = member;
    this.stats.entries++;
    this.endsWithEstargzToc = false;
    const what = () => `${describeType(entry)} "${printable(entry.path)}"`;
    const components = splitMemberName(entry.path, what);
    if (components.length === 0) {
      this.applyToRoot(entry, what);
      return undefined;
    }
    const name = components.pop()!;
    if (this.options.whiteouts) {
      if (isAufsMeta(components, name)) return undefined;
      if (components.some((part) => part.startsWith(WHITEOUT_PREFIX))) {
        throw new InfraError('LAYER', `${what()} lies under a whiteout name; the layer is malformed: rebuild it`);
      }
      if (name.startsWith(WHITEOUT_PREFIX)) {
        this.whiteout(components, name, what);
        return undefined;
      }
    }
    const { parent } = this.place(components, name, what);
    if (entry.type === 'file') {
      this.endsWithEstargzToc = this.options.whiteouts && components.length === 0 && name === ESTARGZ_TOC;
      this.stats.files++;
      this.stats.bytes += entry.size;
      return this.putFile(parent, name, member, what);
    }
    this.putOther(parent, name, entry, what);
    return undefined;
  }

  /** Everything but regular files: no body to write. */
  private putOther(parent: DirInode, name: string, entry: TarEntry, what: Describe): void {
    switch (entry.type) {
      case 'dir':
        this.stats.dirs++;
        return this.putDirectory(parent, name, entry, what);
      case 'hardlink':
        this.stats.hardlinks++;
        return this.putHardLink(parent, name, entry, what);
      case 'symlink':
        this.stats.symlinks++;
        return this.putSymlink(parent, name, entry, what);
      case 'char':
      case 'block':
        this.stats.devices++;
        return this.replace(parent, name, this.device(entry, what));
      case 'fifo':
        this.stats.devices++;
        return this.replace(parent, name, { kind: 'fifo', ...this.meta(entry, what) });
    }
  }

  /** After the last member: drops the eStargz TOC and landmarks that this layer wrote. */
  finish(): void {
    if (!this.endsWithEstargzToc) return;
    const ownNames = this.written.get(this.root);
    for (const name of ESTARGZ_METADATA) if (ownNames?.has(name)) this.remove(this.root, name);
  }

  /** `.`, `./` or `/`: the root's own metadata (rule 3, directory over directory). */
  private applyToRoot(entry: TarEntry, what: Describe): void {
    if (entry.type !== 'dir') {
      throw new InfraError('LAYER', `${what()} names the image root, which must be a directory; the layer is malformed: rebuild it`);
    }
    this.stats.dirs++;
    Object.assign(this.root, this.meta(entry, what));
  }

  private putDirectory(parent: DirInode, name: string, entry: TarEntry, what: Describe): void {
    const existing = parent.children.get(name);
    const meta = this.meta(entry, what);
    if (existing?.kind === 'dir') {
      Object.assign(existing, meta); // merge: children stay, metadata is the new layer's
      this.markWritten(parent, name);
      return;
    }
    this.replace(parent, name, makeDir(meta));
  }

  private async putFile(parent: DirInode, name: string, member: TarMember, what: Describe): Promise<void> {
    const { entry } = member;
    const meta = this.meta(entry, what);
    // Release the old entry first: the sink may reuse its blocks for the new bytes.
    this.remove(parent, name);
    const content = await this.sink.writeFile(member.body, entry.size, entry.sparse);
    this.replace(parent, name, { kind: 'file', ...meta, content });
  }

  /** Rule 6: same inode, no metadata of its own; the target may be in any layer so far. */
  private putHardLink(parent: DirInode, name: string, entry: TarEntry, what: Describe): void {
    const targetWhat = () => `the target "${printable(entry.linkname)}" of ${what()}`;
    const components = splitMemberName(entry.linkname, targetWhat);
    const target = this.find(components, false, targetWhat)?.inode;
    if (target === undefined) {
      throw new InfraError(
        'LAYER',
        `${targetWhat()} does not exist in this layer or a lower one; the layer is malformed: rebuild it`,
      );
    }
    if (target.kind === 'dir') {
      throw new InfraError('LAYER', `${targetWhat()} is a directory, which cannot be hard linked; rebuild the layer`);
    }
    if (parent.children.get(name) === target) {
      this.markWritten(parent, name); // a link to itself: already that inode
      return;
    }
    // Count the new name first: the target may live in the subtree being replaced.
    this.refs.link(target);
    this.replace(parent, name, target);
    const names = this.refs.names(target);
    const max = this.options.maxLinks ?? Number.POSITIVE_INFINITY;
    if (names > max) {
      throw new InfraError(
        'LAYER',
        `${what()} gives "${printable(entry.linkname)}" ${names} names, over the file system's limit of ${max} links per inode; rebuild the layer with fewer hard links to it`,
      );
    }
  }

  private putSymlink(parent: DirInode, name: string, entry: TarEntry, what: Describe): void {
    if (entry.linkname === '') {
      throw new InfraError('LAYER', `${what()} has an empty target, which Linux cannot store; rebuild the layer`);
    }
    this.replace(parent, name, { kind: 'symlink', ...this.meta(entry, what), target: entry.linkname });
  }

  private device(entry: TarEntry, what: Describe): Inode {
    const { devMajor: major, devMinor: minor } = entry;
    if (!isIntegerIn(major, MAX_DEVICE_MAJOR) || !isIntegerIn(minor, MAX_DEVICE_MINOR)) {
      throw new InfraError(
        'LAYER',
        `${what()} has device number ${major}:${minor}, beyond what ext4 can store (major ≤ ${MAX_DEVICE_MAJOR}, minor ≤ ${MAX_DEVICE_MINOR}); rebuild the layer without it`,
      );
    }
    return { kind: entry.type as 'char' | 'block', ...this.meta(entry, what), major, minor };
  }

  /**
   * Rules 1 and 2. The parent path is only looked up: a whiteout of something missing
   * hides nothing, and it creates nothing.
   */
  private whiteout(parents: string[], name: string, what: Describe): void {
    this.stats.whiteouts++;
    if (name === OPAQUE_WHITEOUT) {
      const dir = this.find(parents, true, what)?.inode;
      if (dir?.kind === 'dir') this.hideLowerIn(dir);
      return;
    }
    const hidden = name.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') {
      throw new InfraError('LAYER', `${what()} is a whiteout that names no entry; the layer is malformed: rebuild it`);
    }
    const at = this.find([...parents, hidden], false, what);
    if (at === undefined) return;
    const kept = this.hideLower(at.parent, hidden);
    if (kept !== undefined) this.hideLowerIn(kept);
  }

  /**
   * Hides what lower layers put in `dir`'s subtree and keeps what this layer wrote: the
   * result is as if the whiteout had come before this layer's entries, wherever it stands.
   */
  private hideLowerIn(dir: DirInode): void {
    const pending = [dir];
    while (pending.length > 0) {
      const current = pending.pop()!;
      for (const name of current.children.keys()) {
        const kept = this.hideLower(current, name); // deleting while iterating a Map is safe
        if (kept !== undefined) pending.push(kept);
      }
    }
  }

  /**
   * Hides `dir/name` if a lower layer put it there. A directory this layer wrote or wrote
   * into stays (with implied metadata if only written into) and is returned so that its
   * lower contents can be hidden in turn.
   */
  private hideLower(dir: DirInode, name: string): DirInode | undefined {
    const child = dir.children.get(name);
    if (child === undefined) return undefined;
    const written = this.written.get(dir)?.has(name) ?? false;
    if (child.kind === 'dir' && (written || this.touched.has(child))) {
      if (!written) Object.assign(child, this.impliedMeta());
      return child;
    }
    if (!written) this.remove(dir, name);
    return undefined;
  }

  /**
   * Where the member `parents/name` goes (rule 5): the parent path is resolved through
   * symlinks, creating missing directories with implied metadata; `name` is not followed.
   */
  private place(parents: readonly string[], name: string, what: Describe): Resolved {
    return resolve(this.root, [...parents, name], {
      followLast: false,
      createMissing: (parent, missing) => {
        const dir = makeDir(this.impliedMeta());
        this.replace(parent, missing, dir);
        return dir;
      },
      notADirectory: 'fail',
      entered: (dir) => this.touched.add(dir),
      fail: memberProblem(what),
    })!;
  }

  /** What `components` name in the tree, creating nothing; undefined when it cannot exist. */
  private find(components: readonly string[], followLast: boolean, what: Describe): Resolved | undefined {
    return resolve(this.root, components, { followLast, notADirectory: 'missing', fail: memberProblem(what) });
  }

  /** Puts `inode` at `parent/name`, dropping whatever was there (rule 3). */
  private replace(parent: DirInode, name: string, inode: Inode): void {
    const old = parent.children.get(name);
    parent.children.set(name, inode);
    if (old !== undefined) this.refs.dropSubtree(old, this.sink);
    this.markWritten(parent, name);
  }

  private remove(parent: DirInode, name: string): void {
    const old = parent.children.get(name);
    if (old === undefined) return;
    parent.children.delete(name);
    this.refs.dropSubtree(old, this.sink);
  }

  private markWritten(parent: DirInode, name: string): void {
    let names = this.written.get(parent);
    if (names === undefined) this.written.set(parent, (names = new Set()));
    names.add(name);
    this.touched.add(parent);
  }

  /** Rule 7: numeric ids, full mode bits, ns times; rule 8: raw xattr bytes, filtered. */
  private meta(entry: TarEntry, what: Describe): InodeMeta {
    if (!isIntegerIn(entry.uid, MAX_ID) || !isIntegerIn(entry.gid, MAX_ID)) {
      throw new InfraError('LAYER', `${what()} has owner ${entry.uid}:${entry.gid}, beyond 32-bit ids; rebuild the layer`);
    }
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of entry.xattrs) if (this.keepXattr(key)) xattrs.set(key, value);
    return {
      mode: entry.mode & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      mtime: entry.mtime,
      atime: entry.atime ?? entry.mtime,
      ctime: entry.ctime ?? entry.mtime,
      xattrs: xattrs.size > 0 ? xattrs : NO_XATTRS,
    };
  }

  /** Metadata of a directory that a layer implies but does not describe. */
  private impliedMeta(): InodeMeta {
    return toolMeta(0o755, this.time);
  }
}

function isAufsMeta(parents: string[], name: string): boolean {
  if (name !== OPAQUE_WHITEOUT && name.startsWith(AUFS_META_PREFIX)) return true;
  return parents.some((part) => part.startsWith(AUFS_META_PREFIX));
}

function isIntegerIn(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

function describeType(entry: TarEntry): string {
  return entry.type === 'hardlink' ? 'hard link' : entry.type === 'dir' ? 'directory' : entry.type;
}

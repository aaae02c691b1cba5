/** What an image is: its sidecar facts and what the filesystem itself says. */
import { readSuperblock, withExt4File, type SuperblockFacts } from '../ext4/reader.js';
import { computeDigest, readSidecar, sidecarDescribes, statRootfs, type Sidecar } from '../store/sidecar.js';

export interface RootfsInspection {
  path: string;
  /** File size in bytes. */
  fileSize: number;
  /** Bytes actually allocated on the host disk (a sparse image uses less than fileSize). */
  allocatedBytes: number;
  filesystem: {
    /** Filesystem size (blocks × block size). */
    sizeBytes: number;
    usedBytes: number;
    freeBytes: number;
    blockSize: number;
    inodes: { count: number; used: number; free: number };
    inodeSize: number;
    features: string[];
    uuid: string;
    volumeName: string;
    state: SuperblockFacts['state'];
    createdAt?: string;
    lastWrittenAt?: string;
  };
  sidecar?: Sidecar;
  /** The sidecar describes another file state (size or mtime differ): its digest is stale. */
  sidecarStale?: boolean;
  /** Hex sha256 of the whole file, when asked for (`sha256: true`): read now, never stored. */
  sha256?: string;
}

export interface InspectOptions {
  /** Compute the plain sha256 of the file (it reads the whole file, holes included). */
  sha256?: boolean;
}

export async function inspectRootfs(path: string, options: InspectOptions = {}): Promise<RootfsInspection> {
  const st = await statRootfs(path, "'infra.operator rootfs list' shows the images there are");
  const sb = await readSuperblock(path);
  // Opening it proves libext2fs (not our writer) accepts the filesystem, beyond its magic.
  await withExt4File(path, async () => undefined);
  const sidecar = await readSidecar(path);
  const sha256 = options.sha256 ? (await computeDigest(path, 'sha256')).hex : undefined;
  const usedBlocks = sb.blocksCount - sb.freeBlocks;
  return {
    path,
    fileSize: st.size,
    allocatedBytes: st.blocks * 512,
    filesystem: {
      sizeBytes: sb.blocksCount * sb.blockSize,
      usedBytes: usedBlocks * sb.blockSize,
      freeBytes: sb.freeBlocks * sb.blockSize,
      blockSize: sb.blockSize,
      inodes: { count: sb.inodesCount, used: sb.inodesCount - sb.freeInodes, free: sb.freeInodes },
      inodeSize: sb.inodeSize,
      features: sb.features,
      uuid: sb.uuid,
      volumeName: sb.volumeName,
      state: sb.state,
      ...(sb.createdAt ? { createdAt: sb.createdAt } : {}),
      ...(sb.lastWrittenAt ? { lastWrittenAt: sb.lastWrittenAt } : {}),
    },
    ...(sidecar ? { sidecar, sidecarStale: !sidecarDescribes(sidecar, st) } : {}),
    ...(sha256 !== undefined ? { sha256 } : {}),
  };
}

/**
 * Copies of the few files of a base image that installing packages reads back: its
 * os-release, dpkg database, apt sources and keyrings (and, given more prefixes, the
 * unpacked packages' files that configuring them reads). File bytes go straight into the
 * image being written and cannot be read back, so these are kept as the base's layers
 * stream past, and found again through the tree: a later layer that replaces, hard links
 * or deletes such a file does the same to what `read` returns.
 */
import { InfraError, printable } from '../errors.js';
import type { TarMember } from '../tar/entry.js';
import { resolvePath } from '../tree/edit.js';
import type { DataSink, DirInode, FileContent } from '../tree/tree.js';

/** Reads a regular file of the tree (through symlinks); undefined when there is none. */
export type ReadTreeFile = (path: string) => Buffer | undefined;

/** What `rootfs create` reads from a base image: os-release, and the dpkg or apk side's database, sources and keys (member names without the leading `./`). */
export const BASE_FILES_READ = ['etc/os-release', 'usr/lib/os-release', 'var/lib/dpkg/', 'etc/apt/', 'usr/share/keyrings/', 'etc/apk/', 'lib/apk/db/'];

/** A base whose dpkg database and keyrings exceed this is not a base image. */
const MAX_RETAINED_BYTES = 256 * 1024 * 1024;

export class RetainedFiles {
  private readonly copies = new WeakMap<AsyncIterable<Buffer>, Buffer[]>();
  private readonly byContent = new WeakMap<FileContent, Buffer>();
  private bytes = 0;

  constructor(private readonly prefixes: readonly string[] = BASE_FILES_READ) {}

  /** Passes `members` on, copying the bodies of the wanted files as they are read. */
  async *members(members: AsyncIterable<TarMember>): AsyncGenerator<TarMember> {
    for await (const member of members) {
      const name = member.entry.path.replace(/^(\.?\/)+/, '');
      const wanted = member.entry.type === 'file' && this.prefixes.some((prefix) => name.startsWith(prefix));
      yield wanted ? { entry: member.entry, body: this.copying(member.body, name) } : member;
    }
  }

  /** `inner`, remembering which content holds which copied body. */
  sink(inner: DataSink): DataSink {
    return {
      writeFile: async (body, size, sparse) => {
        const content = await inner.writeFile(body, size, sparse);
        const chunks = this.copies.get(body);
        if (chunks !== undefined) this.byContent.set(content, Buffer.concat(chunks));
        return content;
      },
      writeBuffer: (data) => inner.writeBuffer(data),
      release: (content) => inner.release(content),
    };
  }

  /** The file at `path` in `root`, if it is one of the kept files. */
  reader(root: DirInode): ReadTreeFile {
    return (path) => {
      const inode = resolvePath(root, path)?.inode;
      return inode?.kind === 'file' ? this.byContent.get(inode.content) : undefined;
    };
  }

  private copying(body: AsyncIterable<Buffer>, name: string): AsyncIterable<Buffer> {
    const chunks: Buffer[] = [];
    const copy = async function* (this: RetainedFiles): AsyncGenerator<Buffer> {
      for await (const chunk of body) {
        this.bytes += chunk.length;
        if (this.bytes > MAX_RETAINED_BYTES) {
          throw new InfraError(
            'INPUT',
            `the base image's dpkg database and apt files exceed ${MAX_RETAINED_BYTES} bytes (at ${printable(name)}); use a plain Debian or Ubuntu base image`,
          );
        }
        chunks.push(Buffer.from(chunk));
        yield chunk;
      }
    }.call(this);
    this.copies.set(copy, chunks);
    return copy;
  }
}

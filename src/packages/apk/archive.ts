/**
 * The small tar streams inside apk's gzip members (signatures, control, APKINDEX), read
 * whole into memory with the project's tar reader. apk-tools writes them without the
 * end-of-archive blocks, so the members join into one tar stream when inflated.
 */
import { InfraError, printable } from '../../errors.js';
import { readTar } from '../../tar/reader.js';

/** Control and index members hold a few files; more is not apk's format. */
const MAX_MEMBERS = 64;

/** The regular files of a small tar stream, in order: name → bytes. */
export async function smallTarFiles(data: Buffer, maxBytes: number, what: string, maxMembers = MAX_MEMBERS): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let total = 0;
  for await (const { entry, body } of readTar(once(data), { maxEntrySize: maxBytes })) {
    if (entry.type !== 'file') continue;
    total += entry.size;
    if (files.size === maxMembers || total > maxBytes) {
      throw new InfraError('PACKAGE', `${what} holds more than apk's format allows (${maxMembers} files, ${maxBytes} bytes); the repository is damaged or hostile`);
    }
    if (files.has(entry.path)) throw new InfraError('PACKAGE', `${what} holds "${printable(entry.path)}" twice; the repository is damaged or hostile`);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk));
    files.set(entry.path, Buffer.concat(chunks));
  }
  return files;
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

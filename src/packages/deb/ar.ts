/**
 * The `ar` archive a `.deb` is (deb(5): `debian-binary`, `control.tar.*`, `data.tar.*`),
 * read streaming: each member's body is handed on as it is read, never held whole.
 * The layout is ar(5) / glibc <ar.h>.
 */
import { InfraError } from '../../errors.js';
import { ByteReader } from '../../io/byte-reader.js';

/** <ar.h> ARMAG, SARMAG bytes: the first bytes of every archive. */
export const AR_MAGIC = Buffer.from('!<arch>\n', 'latin1');

/** <ar.h> struct ar_hdr: [offset, length] of each field; ASCII, space-padded; decimal but ar_mode (octal). */
export const AR_HEADER = {
  ar_name: [0, 16],
  ar_date: [16, 12],
  ar_uid: [28, 6],
  ar_gid: [34, 6],
  ar_mode: [40, 8],
  ar_size: [48, 10],
  ar_fmag: [58, 2],
} as const;
export const AR_HEADER_SIZE = 60;
/** <ar.h> ARFMAG: the last two bytes of every header. */
const AR_FMAG = '`\n';

/** deb(5) has three members; a few more are allowed (underscore-prefixed, ignored by dpkg). */
const MAX_MEMBERS = 16;

export interface ArMember {
  /** The name without the GNU `/` terminator and padding. */
  name: string;
  size: number;
  /** The member's bytes, streamed; read it (or leave it) before asking for the next member. */
  body: AsyncIterable<Buffer>;
}

/** Yields the members of an ar archive; `what` names it in errors. */
export async function* readAr(source: AsyncIterable<Buffer>, what: string): AsyncGenerator<ArMember> {
  const reader = new ByteReader(source);
  try {
    const magic = await reader.read(AR_MAGIC.length);
    if (!magic.equals(AR_MAGIC)) throw notADeb(what, 'it does not start with the ar magic "!<arch>"');
    for (let count = 0; ; count++) {
      const offset = reader.position;
      const header = await reader.read(AR_HEADER_SIZE);
      if (header.length === 0) return;
      if (count === MAX_MEMBERS) throw notADeb(what, `it has more than ${MAX_MEMBERS} members`);
      if (header.length < AR_HEADER_SIZE) throw notADeb(what, `it ends inside the member header at byte ${offset}`);
      if (field(header, 'ar_fmag') !== AR_FMAG) throw notADeb(what, `the member header at byte ${offset} is damaged`);
      const sizeText = field(header, 'ar_size').trimEnd();
      if (!/^\d+$/.test(sizeText)) throw notADeb(what, `the member header at byte ${offset} has size "${sizeText}"`);
      const size = Number(sizeText);
      const name = field(header, 'ar_name').trimEnd().replace(/\/$/, '');
      const body = new MemberBody(reader, size, () => notADeb(what, `it ends inside the member ${name}`));
      yield { name, size, body: body.chunks() };
      await body.finish();
      // Members start at even offsets: an odd-sized one is followed by a '\n'.
      if (size % 2 === 1) await reader.skip(1);
    }
  } finally {
    await reader.close();
  }
}

/** One member's bytes: handed out as owned copies, so that a codec may keep them. */
class MemberBody {
  private left: number;

  constructor(
    private readonly reader: ByteReader,
    size: number,
    private readonly truncated: () => InfraError,
  ) {
    this.left = size;
  }

  async *chunks(): AsyncGenerator<Buffer> {
    while (this.left > 0) {
      const view = await this.reader.next(this.left);
      if (view === undefined) throw this.truncated();
      this.left -= view.length;
      yield Buffer.from(view);
    }
  }

  /** Skips what the consumer did not read. */
  async finish(): Promise<void> {
    const skipped = await this.reader.skip(this.left);
    if (skipped < this.left) throw this.truncated();
    this.left = 0;
  }
}

function field(header: Buffer, name: keyof typeof AR_HEADER): string {
  const [offset, length] = AR_HEADER[name];
  return header.toString('latin1', offset, offset + length);
}

/** A file that is not the .deb it should be; `what` names the package. */
export function notADeb(what: string, detail: string): InfraError {
  return new InfraError('PACKAGE', `${what} is not a valid .deb (${detail}); download it again, or rebuild it with dpkg-deb`);
}

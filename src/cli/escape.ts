/**
 * Text from outside (file names and symlink targets inside images, image references,
 * sidecar fields, volume labels, S3 keys) made safe for a terminal: control characters
 * would otherwise move the cursor, recolour or retitle it, or fake output lines.
 */

import { escapeControls } from '../errors.js';

export { escapeControls };

/**
 * A byte string (latin1, one char per byte, as the tree and the ext4 reader keep names)
 * for the terminal: valid UTF-8 sequences as their characters, every other byte as
 * `\xHH`, then control characters escaped.
 */
export function escapeBytes(byteString: string): string {
  const bytes = Buffer.from(byteString, 'latin1');
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    const length = utf8SequenceLength(bytes, i);
    if (length === 0) {
      text += `\\x${hex(bytes[i]!)}`;
      i++;
    } else {
      text += escapeControls(bytes.toString('utf8', i, i + length));
      i += length;
    }
  }
  return text;
}

/**
 * Well-formed UTF-8 (Unicode 15, table 3-7): per range of lead bytes, the sequence length
 * and the range of the second byte, which rules out overlong forms, surrogates and
 * anything above U+10FFFF; later bytes are 0x80..0xBF.
 */
const UTF8_LEADS: ReadonlyArray<readonly [lead: number, leadMax: number, length: number, second: number, secondMax: number]> = [
  [0xc2, 0xdf, 2, 0x80, 0xbf],
  [0xe0, 0xe0, 3, 0xa0, 0xbf],
  [0xe1, 0xec, 3, 0x80, 0xbf],
  [0xed, 0xed, 3, 0x80, 0x9f],
  [0xee, 0xef, 3, 0x80, 0xbf],
  [0xf0, 0xf0, 4, 0x90, 0xbf],
  [0xf1, 0xf3, 4, 0x80, 0xbf],
  [0xf4, 0xf4, 4, 0x80, 0x8f],
];

/** The length of the well-formed UTF-8 sequence at `i`, or 0 when the byte starts none. */
function utf8SequenceLength(bytes: Buffer, i: number): number {
  const lead = bytes[i]!;
  if (lead < 0x80) return 1;
  const row = UTF8_LEADS.find(([min, max]) => lead >= min && lead <= max);
  if (row === undefined) return 0;
  const [, , length, secondMin, secondMax] = row;
  if (i + length > bytes.length) return 0;
  const second = bytes[i + 1]!;
  if (second < secondMin || second > secondMax) return 0;
  for (let k = 2; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return 0;
  return length;
}

function hex(code: number): string {
  return code.toString(16).padStart(2, '0');
}

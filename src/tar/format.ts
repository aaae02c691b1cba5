/**
 * The tar header layouts, declared once. Field names and offsets follow POSIX.1-2017
 * `pax` (ustar interchange format, "posix_header") and GNU tar's `tar.h`
 * ("star_header"/"oldgnu_header", "sparse", "sparse_header"). Every field is [offset, length].
 */

export const BLOCK_SIZE = 512;

/** Fields common to v7, ustar and GNU headers (POSIX `posix_header`). */
export const USTAR = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** GNU `oldgnu_header`: replaces ustar's `prefix` with times and the first sparse map. */
export const OLDGNU = {
  atime: [345, 12],
  ctime: [357, 12],
  offset: [369, 12],
  longnames: [381, 4],
  sp: [386, 4 * 24],
  isextended: [482, 1],
  realsize: [483, 12],
} as const satisfies Record<string, readonly [number, number]>;

/** GNU `sparse`: one map entry; `oldgnu_header.sp` holds 4, an extension block 21. */
export const SPARSE_ENTRY = { offset: [0, 12], numbytes: [12, 12] } as const;
export const SPARSE_ENTRY_SIZE = 24;
export const OLDGNU_SPARSE_ENTRIES = 4;

/** GNU `sparse_header`: the extension block after an old-GNU sparse header. */
export const SPARSE_EXTENSION = { sp: [0, 21 * 24], isextended: [504, 1] } as const;
export const SPARSE_EXTENSION_ENTRIES = 21;

/** `magic` + `version` values that identify the header format. */
export const MAGIC_USTAR = 'ustar\0'; // POSIX: followed by version "00"
export const MAGIC_GNU = 'ustar '; // GNU: followed by version " \0"

/** `typeflag` values (POSIX, plus GNU and POSIX.1-2001 extensions). */
export const TYPE = {
  file: 0x30, // '0'
  oldFile: 0x00, // '\0' (pre-POSIX regular file)
  hardlink: 0x31, // '1'
  symlink: 0x32, // '2'
  char: 0x33, // '3'
  block: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
  contiguous: 0x37, // '7' (treated as a regular file)
  paxLocal: 0x78, // 'x' POSIX.1-2001 extended header for the next member
  paxGlobal: 0x67, // 'g' POSIX.1-2001 extended header for all following members
  solarisPax: 0x58, // 'X' Solaris' name for 'x'
  gnuLongName: 0x4c, // 'L' GNU: the body is the next member's name
  gnuLongLink: 0x4b, // 'K' GNU: the body is the next member's link name
  gnuSparse: 0x53, // 'S' old GNU sparse file
  gnuDumpDir: 0x44, // 'D' GNU incremental directory (a directory plus a name list)
  gnuVolume: 0x56, // 'V' GNU volume label
} as const;

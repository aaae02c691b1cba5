/** The part of the `ext2fs` package (WASM libext2fs, CommonJS, untyped) that src/store uses. */
declare module 'ext2fs' {
  /** A block device: the package calls these with absolute byte positions. */
  export interface Ext2fsDisk {
    read(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<{ bytesRead: number; buffer: Buffer }>;
    write(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<{ bytesWritten: number; buffer: Buffer }>;
    discard(offset: number, length: number): Promise<void>;
    flush(): Promise<void>;
  }

  export interface Ext2fsStats {
    mode: number;
    nlink: number;
    uid: number;
    gid: number;
    size: number;
    ino: number;
    mtime: Date;
    isDirectory(): boolean;
    isFile(): boolean;
    isSymbolicLink(): boolean;
  }

  export interface Ext2fsFileHandle {
    read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Buffer }>;
    stat(): Promise<Ext2fsStats>;
    close(): Promise<void>;
  }

  export interface Ext2fsPromises {
    constants: { O_RDONLY: number; O_NOATIME: number; O_NOFOLLOW: number };
    open(path: string, flags: number, mode?: number): Promise<Ext2fsFileHandle>;
    /** A Buffer path is used as its bytes (names need not be UTF-8). */
    lstat(path: string | Buffer): Promise<Ext2fsStats>;
    /** Follows symlinks, inside the image. */
    stat(path: string): Promise<Ext2fsStats>;
  }

  export interface Ext2fsMounted {
    promises: Ext2fsPromises & {
      /** The mounted filesystem, as the binding's calls take it. */
      fsPointer: number;
    };
  }

  const ext2fs: {
    mount(disk: Ext2fsDisk, offset?: number): Promise<Ext2fsMounted>;
    umount(fs: Ext2fsMounted): Promise<void>;
  };
  export default ext2fs;
}

/**
 * The package's internals that its own readdir and readlink use (ext2fs 4.2.5), for the
 * raw bytes those two decode (see ext4/reader.ts).
 */
declare module 'ext2fs/lib/util.js' {
  /** Runs `fn`, then frees the WASM memory and objects that `usePath`/`useObject` made in it. */
  export function withHooks<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R>;
  /** A NUL-terminated copy of `path` in WASM memory: its pointer. */
  export function usePath(path: string | Buffer): Promise<number>;
  /** `obj` registered for the binding to fill: `[obj, id]`. */
  export function useObject<T>(obj: T): Promise<[T, number]>;
}

declare module 'ext2fs/lib/binding.js' {
  const binding: {
    /** Pushes a copy of each entry's name (without . and ..) onto the array `entriesId`. */
    readdir(fsPointer: number, path: number, entriesId: number): Promise<number>;
    /** Pushes a copy of the link's target onto the array `arrayId`. */
    readlink(fsPointer: number, path: number, arrayId: number): Promise<number>;
  };
  export default binding;
}

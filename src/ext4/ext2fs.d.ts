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
    readdir(path: string, options: { encoding: 'buffer' }): Promise<Buffer[]>;
    lstat(path: string): Promise<Ext2fsStats>;
    /** Follows symlinks, inside the image. */
    stat(path: string): Promise<Ext2fsStats>;
    readlink(path: string): Promise<string>;
  }

  export interface Ext2fsMounted {
    promises: Ext2fsPromises;
  }

  const ext2fs: {
    mount(disk: Ext2fsDisk, offset?: number): Promise<Ext2fsMounted>;
    umount(fs: Ext2fsMounted): Promise<void>;
  };
  export default ext2fs;
}

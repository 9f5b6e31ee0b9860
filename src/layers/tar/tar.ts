/**
 * brig's own tar codec: the entry model shared by the streaming reader (./reader.ts) and the
 * writer (./writer.ts).
 *
 * Vocabulary:
 * - A *byte string* is a JS string in which each char code is one byte (Node's 'latin1'
 *   encoding). Names, link targets and xattr names are kept as byte strings so that any byte
 *   sequence a tar can carry (non-UTF-8 names included) survives a read/write round trip
 *   unchanged. Convert at the edges: `Buffer.from(s, 'latin1')`.
 * - Formats read: ustar (with the 155-byte prefix), PAX extended headers (`x`) and global headers
 *   (`g`) with raw-byte values (path, linkpath, size, uid, gid, mtime, uname, gname,
 *   `SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`), GNU long names (`L`) and long link names (`K`),
 *   base-256 numeric fields, v7 headers. Sparse files and multi-volume archives are refused.
 * - The writer emits ustar, adding a PAX header only where a value does not fit (long names or
 *   link names, uid/gid/size/mtime beyond the octal fields, xattrs), with fixed, deterministic
 *   content: the same entries always give the same bytes.
 */

export type TarType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** Path as a byte string, as found in the archive (no normalisation). */
  name: string;
  type: TarType;
  /** Permission bits including setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of content that follow (0 for every type but 'file'). */
  size: number;
  /** Seconds since the epoch; may carry a fraction when a PAX header gave one. */
  mtime: number;
  /** Link target (byte string) for 'hardlink' and 'symlink'; '' otherwise. */
  linkname: string;
  devmajor: number;
  devminor: number;
  uname: string;
  gname: string;
  /** Extended attributes: name (byte string) to raw value; null when there are none. */
  xattrs: Map<string, Buffer> | null;
}

/**
 * An entry with `name` and `type` and, unless given, owner root, mode 0, no content, time 0, no
 * link, device, owner names or xattrs: what archives brig writes itself start from.
 */
export function tarEntry(e: Pick<TarEntry, 'name' | 'type'> & Partial<TarEntry>): TarEntry {
  return {
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    uname: '',
    gname: '',
    xattrs: null,
    ...e,
  };
}

export const BLOCK = 512;

/** Bytes of zero padding after `size` bytes of content. */
export function paddingOf(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** Largest integer the reader accepts in a numeric field (exact in a JS number). */
export const MAX_NUMBER = Number.MAX_SAFE_INTEGER;

/** Limit on one PAX extended header or GNU long name/link: beyond it the layer is refused. */
export const MAX_META_SIZE = 1 << 20;

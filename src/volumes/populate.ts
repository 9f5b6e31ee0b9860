/**
 * Docker's "copy the image's files into a new volume": when a container mounts a volume that was
 * just created for it (ResolvedMount.populate) at a destination where the image has a directory,
 * that directory's contents, owner and mode are copied into the volume before the first start.
 *
 * `populateVolume(rootfs, destination, mountpoint)` — `rootfs` is the container's root filesystem
 * as mounted on the host (before volumes are mounted on it). It copies only when the volume is
 * empty and the destination is a real directory inside the rootfs: a destination reached through
 * a symlink is not followed (it could point anywhere on the host), and nothing is copied.
 * Returns whether it copied.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type CopyTree, gnuCopyTree } from '../snapshots/native/native-snapshotter.ts';

export async function populateVolume(
  rootfs: string,
  destination: string,
  mountpoint: string,
  opts: { copyContents?: CopyTree } = {},
): Promise<boolean> {
  if ((await readdir(mountpoint)).length > 0) return false;
  let p = rootfs;
  for (const part of destination.split('/').filter(Boolean)) {
    if (part === '..' || part === '.') return false;
    p = join(p, part);
    try {
      const st = await lstat(p);
      if (!st.isDirectory()) return false;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }
  if (p === rootfs) return false;
  // `SRC/.` into an existing DST: the contents, and SRC's own owner, mode and times onto DST
  await (opts.copyContents ?? gnuCopyTree())(`${p}/.`, mountpoint);
  return true;
}

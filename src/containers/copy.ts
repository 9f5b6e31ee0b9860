/**
 * `brig cp`: paths inside a running container's root filesystem, resolved as the container sees
 * them (a symlink's absolute target is taken relative to the container's root, `..` never climbs
 * above it), so a hostile image cannot make brigd read or write host files.
 * Copy in goes through src/layers' safe applier (entries escaping the target are refused).
 *
 * `root` is the container's view (ContainerService.whileFrozen: `/proc/<pid>/root` on Linux), so
 * its volume, bind and tmpfs mounts are crossed as inside the container. Every component is
 * lstat'ed below a prefix already resolved (no link in it), links are read and resolved by
 * resolveInRoot (src/runtime/in-root.ts):
 * the kernel crosses the container's mount points but never follows a container's link.
 * A destination on a read-only mount (`:ro` volume or bind, `--read-only` root) is refused with
 * ERR_CONTAINER_PATH_READ_ONLY (docker refuses these copies too).
 */
import { constants } from 'node:fs';
import { access, lstat, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { BrigError } from '../errors/errors.ts';
import { applyLayer } from '../layers/layers.ts';
import { resolveInRoot } from '../runtime/in-root.ts';

/** The parent directory (resolved) and the last name of `path` (kept as is: tar archives it). */
export async function safeJoin(root: string, path: string): Promise<{ parent: string; base: string }> {
  const n = posix.normalize(`/${path}`);
  if (n === '/') return { parent: root, base: '.' };
  const parent = await resolveInRoot(root, posix.dirname(n));
  const base = posix.basename(n);
  if (!(await lstat(`${parent}/${base}`).catch(() => undefined))) {
    throw new BrigError('ERR_NOT_FOUND', `${path}: no such file or directory in the container`);
  }
  return { parent, base };
}

/** The container's mounts that have a directory on the host (volumes, binds; not tmpfs). */
export interface HostMounts {
  /** The root filesystem as mounted on the host (where no container mount covers it). */
  rootfs: string;
  /** destination (as given; resolved here in the view) -> source on the host. */
  binds: ReadonlyArray<{ destination: string; source: string }>;
}

/**
 * Where the directory `dir` of the view (`root`) is on the host, so that the layer applier (which
 * works from a real path) writes where the container sees it. The covering mount is the one whose
 * destination, resolved in the view, is the longest prefix; the answer must be the same directory
 * (device and inode) as `dir` in the view, else none (a tmpfs, a mount made by the container).
 */
async function hostDirOf(root: string, dir: string, m: HostMounts): Promise<string | undefined> {
  const inView = await stat(dir);
  const rel = (p: string) => (p === root ? '/' : p.slice(root.length));
  const p = rel(dir);
  const candidates: Array<{ at: number; host: string }> = [];
  for (const b of m.binds) {
    const d = await resolveInRoot(root, b.destination).catch(() => undefined);
    if (d === undefined) continue;
    const dc = rel(d);
    if (p === dc || p.startsWith(dc === '/' ? '/' : `${dc}/`)) {
      candidates.push({ at: dc.length, host: `${b.source}${p.slice(dc.length)}` });
    }
  }
  candidates.sort((a, b) => b.at - a.at);
  candidates.push({ at: 0, host: `${m.rootfs}${p === '/' ? '' : p}` });
  for (const c of candidates) {
    const real = await realpath(c.host).catch(() => undefined);
    const st = real === undefined ? undefined : await stat(real).catch(() => undefined);
    if (st && st.dev === inView.dev && st.ino === inView.ino) return real;
  }
  return undefined;
}

/**
 * Extracts a tar stream into the directory `path` of the container. `mounts` (with `root` the
 * container's view, see the header): the directory is written through its host path.
 * Limitation: entries of the archive that fall under another mount point below the destination
 * are written under that mount point in the mount holding the destination (hidden in the
 * container); copy into each mount's own destination.
 */
export async function extractInto(
  root: string,
  path: string,
  tar: Readable,
  mounts?: HostMounts,
): Promise<void> {
  const dir = await resolveInRoot(root, path);
  // (the root itself may be a link brigd chose: /proc/<pid>/root)
  const st = await (dir === root ? stat(dir) : lstat(dir)).catch(() => undefined);
  const refuse = (e: BrigError) => {
    tar.resume();
    return e;
  };
  if (!st?.isDirectory()) {
    throw refuse(new BrigError('ERR_INVALID_ARGUMENT', `${path} is not a directory in the container`));
  }
  const readOnly = () =>
    new BrigError('ERR_CONTAINER_PATH_READ_ONLY', `${path} is on a read-only mount in the container`);
  // (access(2) answers EROFS for W_OK on a read-only mount, even to root)
  const ro = await access(dir, constants.W_OK).then(
    () => false,
    (e: NodeJS.ErrnoException) => e.code === 'EROFS',
  );
  if (ro) throw refuse(readOnly());
  // Without `mounts`, `root` must be a real directory of the host: the applier works from its
  // real path, which for a /proc/<pid>/root view would be a path of the host's (the check that
  // the real path is the same directory refuses that).
  const target = await hostDirOf(root, dir, mounts ?? { rootfs: root, binds: [] });
  if (target === undefined) {
    throw refuse(
      new BrigError(
        'ERR_CONTAINER_PATH_UNREACHABLE',
        `${path} is on a mount of the container that brigd cannot write from the host (a tmpfs?)`,
      ),
    );
  }
  try {
    await applyLayer(tar, { root: target, compression: 'auto' });
  } catch (e) {
    const code = (x: unknown) => (x as NodeJS.ErrnoException | undefined)?.code;
    if (code(e) === 'EROFS' || code((e as { cause?: unknown }).cause) === 'EROFS') throw readOnly();
    throw e;
  }
}

/**
 * Choosing the snapshotter from `storage.driver` (auto | overlay | native | zfs).
 *
 * auto: overlay on Linux when the kernel has it (/proc/filesystems lists `overlay`) and a probe
 * mount with an upper directory under `<root>/snapshots/overlay` works (it does not on an
 * overlay, NFS or some FUSE roots, or without CAP_SYS_ADMIN); else native. zfs (and auto on
 * FreeBSD) when `storage.zfs.dataset` (or the platform's default) exists, else native with nullfs
 * mounts. An explicit `overlay` that fails the probe is
 * refused at start rather than at the first container.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError } from '../errors/errors.ts';
import type { DB } from '../metadata/db.ts';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';
import { bsdCopyTree, type NativeOptions, NativeSnapshotter } from './native/native-snapshotter.ts';
import { OverlaySnapshotter } from './overlay/overlay-snapshotter.ts';
import type { Snapshotter } from './snapshotter.ts';

export type StorageDriver = 'auto' | 'overlay' | 'native' | 'zfs';

export interface SelectOptions {
  /** The brig root; snapshotters live in `<root>/snapshots/<driver>`. */
  root: string;
  db: DB;
  /** `linux`, `freebsd`, `freebsd-simulated`. */
  platformName: string;
  runner?: CommandRunner;
  native?: NativeOptions;
  /** The ZFS dataset (`storage.zfs.dataset`, else the platform's default); zfs(8) runs through `runner`. */
  zfsDataset?: string;
}

/** Whether an overlay with an upper dir can be mounted under `dir`; the reason when not. */
export async function probeOverlay(
  dir: string,
  runner: CommandRunner = hostRunner,
): Promise<string | undefined> {
  try {
    const fs = await readFile('/proc/filesystems', 'utf8');
    if (!/\toverlay$/m.test(fs)) return 'the kernel has no overlay filesystem';
  } catch {
    return 'no /proc/filesystems';
  }
  const p = join(dir, `probe-${process.pid}-${Date.now()}`);
  try {
    for (const d of ['l1', 'l2', 'u', 'w', 'm']) await mkdir(join(p, d), { recursive: true });
    const opts = `lowerdir=${join(p, 'l1')}:${join(p, 'l2')},upperdir=${join(p, 'u')},workdir=${join(p, 'w')}`;
    const r = await runner.run('mount', ['-t', 'overlay', '-o', opts, '--', 'overlay', join(p, 'm')], {
      check: false,
    });
    if (r.code !== 0) return `overlay mount refused: ${r.stderr.toString().trim()}`;
    await runner.run('umount', [join(p, 'm')]);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await rm(p, { recursive: true, force: true }).catch(() => {});
  }
}

export async function selectSnapshotter(
  driver: StorageDriver,
  opts: SelectOptions,
): Promise<{ snapshotter: Snapshotter; reason: string }> {
  const dir = (d: string) => join(opts.root, 'snapshots', d);
  const native = () => new NativeSnapshotter(opts.db, dir('native'), opts.native);
  if (driver === 'native' && !['freebsd', 'freebsd-simulated'].includes(opts.platformName))
    return { snapshotter: native(), reason: 'configured' };
  const freebsd = opts.platformName === 'freebsd' || opts.platformName === 'freebsd-simulated';
  if (driver === 'zfs' || (driver === 'auto' && freebsd && opts.zfsDataset)) {
    if (!opts.zfsDataset || !freebsd) {
      if (driver === 'zfs')
        throw new BrigError(
          'ERR_SNAPSHOTTER_UNAVAILABLE',
          freebsd
            ? 'storage.driver zfs needs storage.zfs.dataset'
            : `zfs needs FreeBSD (platform ${opts.platformName})`,
        );
    } else {
      const { ZfsSnapshotter } = await import('./zfs/zfs-snapshotter.ts');
      const zfs = new ZfsSnapshotter(opts.db, {
        dataset: opts.zfsDataset,
        runner: opts.runner ?? hostRunner,
      });
      try {
        await zfs.ensureDataset();
        return {
          snapshotter: zfs,
          reason: driver === 'zfs' ? 'configured' : `dataset ${opts.zfsDataset} exists`,
        };
      } catch (e) {
        if (driver === 'zfs') throw e;
      }
    }
  }
  if (freebsd && driver !== 'overlay') {
    // no ZFS: plain directories, nullfs mounts, FreeBSD's cp (on the real host: the simulated
    // host's snapshots are real directories under the root)
    return {
      snapshotter: new NativeSnapshotter(opts.db, dir('native'), {
        mountType: 'nullfs',
        ...(opts.platformName === 'freebsd' ? { copyTree: bsdCopyTree() } : {}),
        ...opts.native,
      }),
      reason: driver === 'native' ? 'configured' : `no ZFS dataset on ${opts.platformName}`,
    };
  }
  const linux = opts.platformName === 'linux';
  if (driver === 'overlay' || linux) {
    let why: string | undefined = linux ? undefined : `overlay needs Linux (platform ${opts.platformName})`;
    if (!why) {
      await mkdir(dir('overlay'), { recursive: true });
      why = await probeOverlay(dir('overlay'), opts.runner);
    }
    if (!why)
      return { snapshotter: new OverlaySnapshotter(opts.db, dir('overlay')), reason: 'overlay works here' };
    if (driver === 'overlay')
      throw new BrigError('ERR_SNAPSHOTTER_UNAVAILABLE', `storage.driver overlay: ${why}`);
    return { snapshotter: native(), reason: why };
  }
  return { snapshotter: native(), reason: `auto on ${opts.platformName}` };
}

/**
 * From mount requests (-v, --mount, --tmpfs) and the volumes an image declares to the final list
 * of mounts for a container's OCI bundle.
 *
 * `resolveMounts(requests, imageVolumes, volumes, containerId)`:
 *   - user requests win: an image volume whose destination a request covers is not made;
 *   - named volumes are created when missing, anonymous ones always; each is `acquire`d for the
 *     container (so `volume rm` refuses while the container exists);
 *   - image volumes (`config.Volumes` and the `brig.volumes` section) nobody provided become
 *     anonymous volumes, read-only when the brig section says so; a `required` one that nobody
 *     provided is ERR_PARAMETER_MISSING before anything is created;
 *   - -v binds create a missing host directory (docker does), --mount binds refuse it;
 *   - the result is sorted so that a mount comes after every mount above its destination.
 * On failure everything done is undone and the error rethrown; on success the caller keeps
 * `undo` for a later failed start step; mounts marked `populate` get the image's files before
 * the first start (ContainerService's volumeMounts). Removing the container later is
 * `volumes.releaseContainer(id, { removeAnonymous })`.
 */
import { lstat, mkdir, rmdir } from 'node:fs/promises';
import { posix } from 'node:path';
import { BrigError } from '../errors/errors.ts';
import type { MountRequest } from './mount-spec.ts';
import type { VolumeService } from './volume-service.ts';

export interface ImageVolume {
  destination: string;
  /** The brig section's key for it (absent for plain config.Volumes entries). */
  name?: string;
  readOnly?: boolean;
  required?: boolean;
  description?: string;
}

export interface ResolvedMount {
  type: 'bind' | 'tmpfs';
  source: string;
  destination: string;
  options: string[];
  /** The volume behind a bind, when it is one. */
  volume?: string;
  /**
   * The volume was created for this container and the image's files at `destination` should be
   * copied into it before the first start (docker's behaviour; `nocopy` turns it off).
   */
  populate?: boolean;
}

export interface ResolvedMounts {
  mounts: ResolvedMount[];
  /** Undoes what resolveMounts did (releases, removes the volumes and host dirs it created). */
  undo(): Promise<void>;
}

export const CONTAINER_LABEL = 'brig.container';
export const IMAGE_VOLUME_LABEL = 'brig.image.volume';

/** The volumes an image declares: `config.Volumes` keys, and `brig.volumes` entries (which win). */
export function imageVolumes(config: {
  Volumes?: Record<string, unknown> | null;
  brig?: {
    volumes?: Record<
      string,
      { destination: string; readOnly?: boolean; required?: boolean; description?: string }
    >;
  };
}): ImageVolume[] {
  const byDest = new Map<string, ImageVolume>();
  for (const d of Object.keys(config.Volumes ?? {})) {
    const dest = normalise(d);
    if (dest) byDest.set(dest, { destination: dest });
  }
  for (const [name, v] of Object.entries(config.brig?.volumes ?? {})) {
    const dest = normalise(v.destination);
    if (!dest) continue;
    byDest.set(dest, {
      destination: dest,
      name,
      ...(v.readOnly !== undefined ? { readOnly: v.readOnly } : {}),
      ...(v.required !== undefined ? { required: v.required } : {}),
      ...(v.description !== undefined ? { description: v.description } : {}),
    });
  }
  return [...byDest.values()];
}

function normalise(p: string): string | undefined {
  if (typeof p !== 'string' || !p.startsWith('/')) return undefined;
  const n = posix.normalize(p).replace(/\/+$/, '');
  return n === '' ? undefined : n;
}

function depth(p: string): number {
  return p.split('/').filter(Boolean).length;
}

export async function resolveMounts(
  requests: readonly MountRequest[],
  declared: readonly ImageVolume[],
  volumes: VolumeService,
  containerId: string,
): Promise<ResolvedMounts> {
  const seen = new Set<string>();
  for (const r of requests) {
    if (seen.has(r.target)) {
      throw new BrigError('ERR_MOUNT_INVALID', `two mounts for ${r.target}`, {
        details: { destination: r.target },
      });
    }
    seen.add(r.target);
  }
  const fromImage = declared.filter((v) => !seen.has(v.destination));
  const missing = fromImage.filter((v) => v.required);
  if (missing.length > 0) {
    throw new BrigError(
      'ERR_PARAMETER_MISSING',
      `the image requires volume${missing.length > 1 ? 's' : ''} ${missing.map((v) => `${v.name ?? ''} (${v.destination})`).join(', ')}`,
      {
        hint: `Provide ${missing.length > 1 ? 'them' : 'it'} with -v NAME:${missing[0]!.destination} or -v /host/path:${missing[0]!.destination}.`,
        details: { volumes: missing.map((v) => ({ name: v.name, destination: v.destination })) },
      },
    );
  }

  const undo: Array<() => Promise<void> | void> = [];
  const runUndo = async () => {
    for (const u of undo.splice(0).reverse()) {
      try {
        await u();
      } catch {}
    }
  };
  const mounts: ResolvedMount[] = [];
  const useVolume = (
    name: string | undefined,
    labels: Record<string, string>,
  ): { name: string; mountpoint: string; created: boolean } => {
    let v: { name: string; mountpoint: string };
    let created: boolean;
    if (name === undefined) {
      v = volumes.create(undefined, {
        anonymous: true,
        labels: { [CONTAINER_LABEL]: containerId, ...labels },
      });
      created = true;
    } else {
      const e = volumes.ensure(name, Object.keys(labels).length > 0 ? { labels } : {});
      v = e.volume;
      created = e.created;
    }
    if (created) undo.push(() => volumes.remove(v.name, { force: true }));
    volumes.acquire(v.name, containerId);
    undo.push(() => volumes.release(v.name, containerId));
    return { name: v.name, mountpoint: v.mountpoint, created };
  };

  try {
    for (const r of requests) {
      switch (r.type) {
        case 'bind': {
          let exists = true;
          try {
            await lstat(r.source);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
            exists = false;
          }
          if (!exists) {
            if (!r.createSource) {
              throw new BrigError('ERR_MOUNT_INVALID', `bind source ${r.source} does not exist`, {
                hint: 'Create it first, or use -v (which creates it) or bind-create-src.',
              });
            }
            const first = await mkdir(r.source, { recursive: true, mode: 0o755 });
            if (first) {
              undo.push(async () => {
                // only the levels made here, and only while still empty
                for (let p = r.source; p.length >= first.length; p = posix.dirname(p)) await rmdir(p);
              });
            }
          }
          mounts.push({
            type: 'bind',
            source: r.source,
            destination: r.target,
            options: ['rbind', r.readOnly ? 'ro' : 'rw', r.propagation ?? 'rprivate'],
          });
          break;
        }
        case 'volume': {
          const v = useVolume(r.source, r.labels ?? {});
          mounts.push({
            type: 'bind',
            source: v.mountpoint,
            destination: r.target,
            options: ['rbind', r.readOnly ? 'ro' : 'rw', 'rprivate'],
            volume: v.name,
            ...(v.created && !r.noCopy ? { populate: true } : {}),
          });
          break;
        }
        case 'tmpfs': {
          const flags = r.flags ?? [];
          const opts = [
            flags.includes('suid') ? 'suid' : 'nosuid',
            flags.includes('dev') ? 'dev' : 'nodev',
            flags.includes('exec') ? 'exec' : 'noexec',
            r.readOnly ? 'ro' : 'rw',
          ];
          if (r.size !== undefined) opts.push(`size=${r.size}`);
          if (r.mode !== undefined) opts.push(`mode=${r.mode.toString(8).padStart(4, '0')}`);
          mounts.push({ type: 'tmpfs', source: 'tmpfs', destination: r.target, options: opts });
          break;
        }
      }
    }
    for (const d of fromImage) {
      const v = useVolume(undefined, d.name ? { [IMAGE_VOLUME_LABEL]: d.name } : {});
      mounts.push({
        type: 'bind',
        source: v.mountpoint,
        destination: d.destination,
        options: ['rbind', d.readOnly ? 'ro' : 'rw', 'rprivate'],
        volume: v.name,
        populate: true,
      });
    }
  } catch (e) {
    await runUndo();
    throw e;
  }
  // parents before children; stable otherwise
  const sorted = mounts
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i);
  return { mounts: sorted.map((x) => x.m), undo: runUndo };
}

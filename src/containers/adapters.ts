/**
 * The containers service's seams, implemented over the other services. Constructed only by
 * src/daemon/daemon.ts (tests build their own).
 *   - imageSource(images): ImageService.inspect -> ResolvedImage; `name` is the reference that was
 *     run, canonical (src/privileges/image-ref.ts), or the image id when it was run by id: the
 *     name policy.images is matched against, never another tag of the same image
 *   - snapshotRootfs(snapshotter, content, apply): the container root = the active snapshot
 *     `ctr-<id>` prepared on the image's top chain id (src/snapshots/unpack.ts)
 *   - volumeMounts(volumes): -v/--mount/--tmpfs parsed and resolved by src/volumes
 */
import type { ContentStore } from '../content/store.ts';
import type { ImageService } from '../images/image-service.ts';
import { runReference } from '../privileges/image-ref.ts';
import type { Mount, Snapshotter } from '../snapshots/snapshotter.ts';
import { type LayerApplier, prepareImageRootfs } from '../snapshots/unpack.ts';
import {
  parseMountFlag,
  parseTmpfsFlag,
  parseVolumeFlag,
  type MountRequest as VolumeMountRequest,
} from '../volumes/mount-spec.ts';
import { imageVolumes, resolveMounts } from '../volumes/resolve-mounts.ts';
import type { VolumeService } from '../volumes/volume-service.ts';
import type { MountRequest, StoredMount } from './container.ts';
import { removeTree } from './remove-tree.ts';
import type { ImageSource, MountResolver, ResolvedImage, RootfsStore } from './service.ts';

export function imageSource(images: ImageService): ImageSource {
  return {
    async resolve(ref: string): Promise<ResolvedImage> {
      const d = await images.inspect(ref);
      return {
        id: d.id,
        name: (await runReference(images, ref, d)) ?? d.id,
        config: d.config,
        layers: {
          layers: d.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
          diffIds: d.layers.map((l) => l.diffId),
        },
        brig: d.brig as ResolvedImage['brig'],
      };
    },
  };
}

const KEY_PREFIX = 'ctr-';

export function snapshotRootfs(
  snapshotter: Snapshotter,
  content: ContentStore,
  apply: LayerApplier,
): RootfsStore {
  return {
    prepare(id, image) {
      return prepareImageRootfs(
        snapshotter,
        content,
        image.layers as Parameters<typeof prepareImageRootfs>[2],
        `${KEY_PREFIX}${id}`,
        { apply, labels: { 'brig.container': id } },
      );
    },
    async remove(id) {
      // the writable layer first, while the snapshot's record still exists: a file that cannot
      // be removed (EPERM: chattr +i) then fails here, the record stays, and a later remove
      // retries (the snapshotter drops the record before its files: it would leave an orphan)
      const writable = await snapshotter
        .mounts(`${KEY_PREFIX}${id}`)
        .then(writableDirs, (e: { code?: string }) => {
          if (e.code !== 'ERR_SNAPSHOT_NOT_FOUND') throw e;
          return [];
        });
      for (const dir of writable) await removeTree(dir);
      await snapshotter.remove(`${KEY_PREFIX}${id}`).catch((e: { code?: string }) => {
        if (e.code !== 'ERR_SNAPSHOT_NOT_FOUND') throw e;
      });
    },
    async list() {
      const ids: string[] = [];
      await snapshotter.walk((s) => {
        if (s.kind === 'active' && s.name.startsWith(KEY_PREFIX)) ids.push(s.name.slice(KEY_PREFIX.length));
      });
      return ids;
    },
  };
}

/** The directories a container root writes to: overlay's upperdir, a writable bind's source. */
function writableDirs(mounts: Mount[]): string[] {
  const out: string[] = [];
  for (const m of mounts) {
    if (m.type === 'overlay') {
      const upper = m.options.find((o) => o.startsWith('upperdir='));
      if (upper) out.push(upper.slice('upperdir='.length));
    } else if (m.type === 'bind' && !m.options.includes('ro')) {
      out.push(m.source);
    }
  }
  return out;
}

export function parseMountRequest(m: MountRequest): VolumeMountRequest {
  return m.kind === 'volume'
    ? parseVolumeFlag(m.value)
    : m.kind === 'mount'
      ? parseMountFlag(m.value)
      : parseTmpfsFlag(m.value);
}

export function volumeMounts(volumes: VolumeService): MountResolver {
  return {
    async resolve(containerId, requests, image) {
      const parsed = requests.map(parseMountRequest);
      const declared = imageVolumes({
        ...(image.config.config?.Volumes ? { Volumes: image.config.config.Volumes } : {}),
        ...(image.brig ? { brig: image.brig as { volumes?: Record<string, { destination: string }> } } : {}),
      });
      const r = await resolveMounts(parsed, declared, volumes, containerId);
      const mounts: StoredMount[] = r.mounts.map((m) => ({
        type: m.type,
        source: m.source,
        destination: m.destination,
        options: m.options,
        ...(m.volume ? { volume: m.volume } : {}),
        ...(m.populate ? { populate: true } : {}),
      }));
      return { mounts, undo: () => r.undo() };
    },
    async releaseAll(containerId, opts) {
      await volumes.releaseContainer(containerId, opts);
    },
  };
}

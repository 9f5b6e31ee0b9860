/**
 * Removing unpacked image layers that no image needs any more.
 *
 * `removeUnusedLayers(snapshotter, keep)`: `keep` is every chain id of every image still known
 * (`chainIds(image.diffIds)` for each). Committed snapshots that unpack made (label
 * `brig.chainid`) and that are not in `keep` are removed, leaves first, as long as nothing has
 * them as parent: a container's rootfs or a build step on top keeps its whole chain alive.
 * Snapshots that unpack did not make are never touched. Returns the removed names.
 */
import { isBrigError } from '../errors/errors.ts';
import type { SnapshotInfo, Snapshotter } from './snapshotter.ts';
import { CHAIN_LABEL } from './unpack.ts';

export async function removeUnusedLayers(
  snapshotter: Snapshotter,
  keep: Iterable<string>,
): Promise<string[]> {
  const kept = new Set(keep);
  const all: SnapshotInfo[] = [];
  await snapshotter.walk((i) => {
    all.push(i);
  });
  const children = new Map<string, number>();
  for (const s of all) if (s.parent !== undefined) children.set(s.parent, (children.get(s.parent) ?? 0) + 1);
  const byName = new Map(all.map((s) => [s.name, s]));
  const candidates = all.filter(
    (s) => s.kind === 'committed' && s.labels[CHAIN_LABEL] !== undefined && !kept.has(s.name),
  );
  const removed: string[] = [];
  let queue = candidates.filter((s) => !children.get(s.name));
  while (queue.length > 0) {
    const next: SnapshotInfo[] = [];
    for (const s of queue) {
      try {
        await snapshotter.remove(s.name);
      } catch (e) {
        // something was prepared on it meanwhile, or it is gone already
        if (isBrigError(e, 'ERR_SNAPSHOT_IN_USE') || isBrigError(e, 'ERR_SNAPSHOT_NOT_FOUND')) continue;
        throw e;
      }
      removed.push(s.name);
      if (s.parent === undefined) continue;
      const n = (children.get(s.parent) ?? 1) - 1;
      children.set(s.parent, n);
      const p = byName.get(s.parent);
      if (n === 0 && p && candidates.includes(p)) next.push(p);
    }
    queue = next;
  }
  return removed;
}

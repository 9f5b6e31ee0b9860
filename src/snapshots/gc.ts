/**
 * Removing unpacked image layers that nothing needs any more (the layer GC).
 *
 * `removeUnusedLayers(snapshotter, keep, opts?)`: `keep` is every chain id still needed
 * (`neededChainIds(diffIdLists)` of every image still recorded, and of images being pulled).
 * A committed snapshot that unpack made (label `brig.chainid`) and that is not in `keep` is removed
 * when nothing stands on it:
 *   - no snapshot has it as parent (a container's root `ctr-<id>`, a build step, a layer above):
 *     a running container therefore keeps its whole chain until its root snapshot is gone;
 *   - no unpack session of this process holds it (a pull or a container's first run in progress,
 *     ./unpack.ts's UnpackSession); the check and the removal happen under the chain id's lock,
 *     the one unpack takes, so an unpack either finds the layer gone (and unpacks it again) or
 *     holds it before the GC looks.
 * Order: top of each chain first; a parent becomes a candidate once all its children are gone.
 * A removal that fails is reported in `failed` and the GC goes on; the snapshotter's crash-safe
 * order (row deleted, then storage) means the layer is either still recorded (tried again at the
 * next GC) or its storage has no row (removed by `cleanup()`, which this GC runs after a failure
 * and brigd runs at start).
 * With `temporaries` (only when no unpack can be running: brigd's start), unpack's temporary
 * snapshots (active, labelled with a chain id: left by a crash mid-layer) are removed first.
 * Snapshots that unpack did not make are never touched.
 */
import { isBrigError } from '../errors/errors.ts';
import type { SnapshotInfo, Snapshotter } from './snapshotter.ts';
import { CHAIN_LABEL, chainIds, removeLayerUnlessHeld } from './unpack.ts';

export interface LayerGcOptions {
  /** Also remove unpack's temporary snapshots. Only when no unpack can be running. */
  temporaries?: boolean;
  /** Measure each layer before removing it, for `bytes` (default true). */
  measure?: boolean;
}

export interface LayerGcResult {
  /** Names removed, children before their parents (temporaries first). */
  removed: string[];
  /** Bytes the removed snapshots used (0 without `measure`). */
  bytes: number;
  /** Layers left because an unpack in progress holds them. */
  held: string[];
  /** Removals that failed; tried again at the next GC. */
  failed: Array<{ name: string; code: string; message: string }>;
}

/** Every chain id of every image whose diff ids are listed. */
export function neededChainIds(diffIdLists: Iterable<readonly string[]>): Set<string> {
  const out = new Set<string>();
  for (const d of diffIdLists) for (const c of chainIds(d)) out.add(c);
  return out;
}

export async function removeUnusedLayers(
  snapshotter: Snapshotter,
  keep: Iterable<string>,
  opts: LayerGcOptions = {},
): Promise<LayerGcResult> {
  const kept = new Set(keep);
  const measure = opts.measure ?? true;
  const all: SnapshotInfo[] = [];
  await snapshotter.walk((i) => {
    all.push(i);
  });
  const children = new Map<string, number>();
  for (const s of all) if (s.parent !== undefined) children.set(s.parent, (children.get(s.parent) ?? 0) + 1);
  const out: LayerGcResult = { removed: [], bytes: 0, held: [], failed: [] };

  const sizeOf = async (name: string): Promise<number> => {
    if (!measure) return 0;
    try {
      return (await snapshotter.usage(name)).size;
    } catch {
      return 0;
    }
  };
  const failed = (name: string, e: unknown) => {
    const err = e as { code?: unknown; message?: unknown };
    out.failed.push({
      name,
      code: typeof err?.code === 'string' ? err.code : 'ERR_INTERNAL',
      message: typeof err?.message === 'string' ? err.message : String(e),
    });
  };
  const gone = (s: SnapshotInfo, bytes: number) => {
    out.removed.push(s.name);
    out.bytes += bytes;
    if (s.parent !== undefined) children.set(s.parent, (children.get(s.parent) ?? 1) - 1);
  };

  if (opts.temporaries) {
    for (const s of all) {
      if (s.kind !== 'active' || s.labels[CHAIN_LABEL] === undefined) continue;
      const bytes = await sizeOf(s.name);
      try {
        await snapshotter.remove(s.name);
        gone(s, bytes);
      } catch (e) {
        if (!isBrigError(e, 'ERR_SNAPSHOT_NOT_FOUND')) failed(s.name, e);
      }
    }
  }

  const candidates = new Map(
    all
      .filter((s) => s.kind === 'committed' && s.labels[CHAIN_LABEL] !== undefined && !kept.has(s.name))
      .map((s) => [s.name, s]),
  );
  let queue = [...candidates.values()].filter((s) => !children.get(s.name));
  while (queue.length > 0) {
    const next: SnapshotInfo[] = [];
    for (const s of queue) {
      const bytes = await sizeOf(s.name);
      try {
        if ((await removeLayerUnlessHeld(snapshotter, s.name)) === 'held') {
          out.held.push(s.name);
          continue;
        }
      } catch (e) {
        // something was prepared on it since the walk, or it is gone already: not a failure
        if (!isBrigError(e, 'ERR_SNAPSHOT_IN_USE') && !isBrigError(e, 'ERR_SNAPSHOT_NOT_FOUND'))
          failed(s.name, e);
        continue;
      }
      gone(s, bytes);
      const p = s.parent === undefined ? undefined : candidates.get(s.parent);
      if (p && children.get(p.name) === 0) next.push(p);
    }
    queue = next;
  }

  if (out.failed.length > 0) {
    // a removal that deleted its row but not its storage: cleanup() removes storage without a row
    // (safe beside running prepares: the snapshotters skip what they are creating)
    await snapshotter.cleanup().catch(() => {});
  }
  return out;
}

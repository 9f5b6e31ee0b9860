/**
 * The overlay snapshotter (Linux default). Each committed snapshot is one layer's diff in
 * `snapshots/N/fs`, shared read-only by every snapshot above it; an active snapshot is an empty
 * upper directory `N/fs` plus overlay's `N/work`. Layout and crash safety: ../dir-snapshotter.ts.
 *
 * Mounts:
 *   active, no parent      bind  N/fs  (rw)
 *   active, with parents   overlay lowerdir=P1/fs:P2/fs:...,upperdir=N/fs,workdir=N/work
 *                          (lowerdir lists the nearest parent first, as overlayfs wants)
 *   view, no parent        bind  N/fs  (ro, an empty tree)
 *   view, one parent       bind  P1/fs (ro)
 *   view, more parents     overlay lowerdir=P1/fs:P2/fs:...  (read-only by construction)
 *
 * The mount data limit: mount(2) copies at most one page (4096 bytes) of options. With absolute
 * paths (`/var/lib/brig/snapshots/overlay/snapshots/123/fs`, ~50 bytes) that is ~75 layers. When
 * the absolute option string would not fit, the mount uses paths relative to
 * `<root>/snapshots/` (`123/fs`, 7-11 bytes: 350+ layers) and sets `Mount.cwd`, which `mountAll`
 * honours (it runs mount(8) in that directory). overlayfs itself stacks at most 500 lower layers.
 *
 * Layers written through `directWrite` (the upper directory itself, no mount) must keep whiteouts
 * as overlay whiteouts (0/0 character devices, `trusted.overlay.opaque=y`), i.e.
 * `applyLayer(..., { whiteouts: 'overlay' })`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError } from '../../errors/errors.ts';
import type { DB } from '../../metadata/db.ts';
import { type DirSnapshot, DirSnapshotter } from '../dir-snapshotter.ts';
import type { Mount } from '../snapshotter.ts';

/** Bytes of mount data the kernel accepts (one page, less the terminating NUL). */
export const MOUNT_DATA_LIMIT = 4095;
/** overlayfs's OVL_MAX_STACK. */
export const OVERLAY_MAX_LOWER = 500;

export class OverlaySnapshotter extends DirSnapshotter {
  readonly driver = 'overlay';
  protected readonly whiteouts = 'overlay';

  /** `root` is `<brig root>/snapshots/overlay`. */
  constructor(db: DB, root: string) {
    if (/[:,]/.test(root)) {
      throw new BrigError(
        'ERR_SNAPSHOTTER_UNAVAILABLE',
        `the overlay snapshotter cannot use ${root}: overlay mount options cannot hold ':' or ','`,
      );
    }
    super(db, root);
  }

  protected override async populate(
    id: number,
    kind: 'active' | 'view',
    chain: DirSnapshot[],
  ): Promise<void> {
    if (chain.length > OVERLAY_MAX_LOWER) {
      throw new BrigError(
        'ERR_INVALID_ARGUMENT',
        `overlay stacks at most ${OVERLAY_MAX_LOWER} layers (${chain.length} asked)`,
      );
    }
    await mkdir(this.fsDir(id), { mode: 0o755 });
    if (kind === 'active' && chain.length > 0) await mkdir(join(this.dir(id), 'work'), { mode: 0o700 });
  }

  protected override mountsOf(s: DirSnapshot, chain: DirSnapshot[]): Mount[] {
    if (s.kind === 'committed') {
      // A committed layer alone, read-only: what `mounts(name)` can sensibly show.
      return [{ type: 'bind', source: this.fsDir(s.id), options: ['rbind', 'ro'] }];
    }
    if (chain.length === 0) {
      return [
        { type: 'bind', source: this.fsDir(s.id), options: ['rbind', s.kind === 'view' ? 'ro' : 'rw'] },
      ];
    }
    if (s.kind === 'view' && chain.length === 1) {
      return [{ type: 'bind', source: this.fsDir(chain[0]!.id), options: ['rbind', 'ro'] }];
    }
    const build = (p: (id: number, sub: string) => string): string[] => {
      const o = [`lowerdir=${chain.map((c) => p(c.id, 'fs')).join(':')}`];
      if (s.kind === 'active') o.push(`upperdir=${p(s.id, 'fs')}`, `workdir=${p(s.id, 'work')}`);
      else o.push('ro');
      return o;
    };
    const abs = build((id, sub) => join(this.dir(id), sub));
    if (abs.join(',').length <= MOUNT_DATA_LIMIT)
      return [{ type: 'overlay', source: 'overlay', options: abs }];
    const rel = build((id, sub) => `${id}/${sub}`);
    if (rel.join(',').length > MOUNT_DATA_LIMIT) {
      throw new BrigError(
        'ERR_INVALID_ARGUMENT',
        `${chain.length} overlay layers do not fit in one page of mount options`,
      );
    }
    return [{ type: 'overlay', source: 'overlay', options: rel, cwd: join(this.root, 'snapshots') }];
  }

  // `N/work` stays: removing it under an overlay that is still mounted would break that mount,
  // and it holds nothing but overlayfs's scratch directory. remove() deletes it with N.
  protected override async committed(): Promise<void> {}
}

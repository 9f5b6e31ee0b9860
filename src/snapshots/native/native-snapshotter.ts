/**
 * The native snapshotter: plain directories, works on any host and filesystem. Layout and crash
 * safety: ../dir-snapshotter.ts.
 *
 * - prepare(key, parent) copies the parent's whole tree into `N/fs` (full copy: hard links, xattrs,
 *   device nodes, owners, modes and mtimes preserved); a snapshot without parent starts empty.
 * - view(key, parent) copies nothing: committed snapshots are immutable, so its mount is a
 *   read-only bind of the parent's tree (an empty tree without parent).
 * - commit is metadata only; the committed tree is the one the active snapshot was written in.
 * - directWrite gives `N/fs`: layers are applied there with whiteouts deleted.
 *
 * The copy runs an external tool through the exec door (`copyTree`), by default GNU
 * `cp -a --reflink=auto` (reflinks on btrfs/xfs, a plain copy elsewhere). cp -a is faster than a
 * Node tree walk and keeps everything listed above; the FreeBSD platform passes its own copier.
 */
import { mkdir } from 'node:fs/promises';
import type { DB } from '../../metadata/db.ts';
import { type CommandRunner, hostRunner } from '../../platform/exec.ts';
import { type DirSnapshot, DirSnapshotter } from '../dir-snapshotter.ts';
import type { Mount } from '../snapshotter.ts';

/** Copies directory `src` to `dst` (which does not exist yet), preserving everything. */
export type CopyTree = (src: string, dst: string) => Promise<void>;

export function gnuCopyTree(runner: CommandRunner = hostRunner): CopyTree {
  return async (src, dst) => {
    await runner.run('cp', ['-a', '--reflink=auto', '--', src, dst]);
  };
}

/** FreeBSD's cp(1): `-a` is `-RpP` there; there is no --reflink. */
export function bsdCopyTree(runner: CommandRunner = hostRunner): CopyTree {
  return async (src, dst) => {
    await runner.run('cp', ['-a', '--', src, dst]);
  };
}

export interface NativeOptions {
  copyTree?: CopyTree;
  /** 'bind' (Linux, default) or 'nullfs' (FreeBSD: mount -t nullfs, read-only with `ro`). */
  mountType?: 'bind' | 'nullfs';
}

export class NativeSnapshotter extends DirSnapshotter {
  readonly driver = 'native';
  protected readonly whiteouts = 'delete';
  readonly #copy: CopyTree;
  readonly #mountType: 'bind' | 'nullfs';

  /** `root` is `<brig root>/snapshots/native`. */
  constructor(db: DB, root: string, opts: NativeOptions = {}) {
    super(db, root);
    this.#copy = opts.copyTree ?? gnuCopyTree();
    this.#mountType = opts.mountType ?? 'bind';
  }

  protected override async populate(
    id: number,
    kind: 'active' | 'view',
    chain: DirSnapshot[],
  ): Promise<void> {
    if (kind === 'active' && chain[0]) await this.#copy(this.fsDir(chain[0].id), this.fsDir(id));
    else await mkdir(this.fsDir(id), { mode: 0o755 });
  }

  protected override mountsOf(s: DirSnapshot, chain: DirSnapshot[]): Mount[] {
    if (this.#mountType === 'nullfs') {
      const src =
        s.kind === 'view' ? (chain[0] ? this.fsDir(chain[0].id) : this.fsDir(s.id)) : this.fsDir(s.id);
      return [{ type: 'nullfs', source: src, options: [s.kind === 'active' ? 'rw' : 'ro'] }];
    }
    if (s.kind === 'view' && chain[0]) {
      return [{ type: 'bind', source: this.fsDir(chain[0].id), options: ['rbind', 'ro'] }];
    }
    return [
      { type: 'bind', source: this.fsDir(s.id), options: ['rbind', s.kind === 'active' ? 'rw' : 'ro'] },
    ];
  }

  protected override async committed(): Promise<void> {}
}

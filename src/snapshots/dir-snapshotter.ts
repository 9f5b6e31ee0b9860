/**
 * What the directory-backed snapshotters (overlay, native) share: numbered directories, the
 * crash-safe order of operations around the metadata rows (./metadata.ts) and `cleanup()`.
 *
 * On disk, under `<brig root>/snapshots/<driver>/`:
 *
 *   snapshots/
 *     1/fs          committed layer (overlay: one layer's diff; native: a whole tree)
 *     2/fs          active snapshot's tree (overlay: the upper directory)
 *     2/work        overlay's workdir (overlay only; made for active snapshots with a parent)
 *     ...
 *
 * Directories are numbered (never by key) so that overlay's `lowerdir=` list stays short, keys
 * may hold any character, and commit is a pure metadata change. A number is never reused while
 * its directory exists. Row `info` is `{"id": N}`.
 *
 * Order of operations (what a crash can leave, and who fixes it):
 *   prepare/view: mkdir N -> fill N -> INSERT row (one transaction that re-checks key and parent)
 *   commit:       UPDATE row (one transaction); nothing moves on disk
 *   remove:       DELETE row (one transaction, refused with children) -> rm -r N
 *   A crash between the steps leaves a numbered directory without a row: `cleanup()` removes it.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError } from '../errors/errors.ts';
import type { DB } from '../metadata/db.ts';
import { checkKey, checkParentKind, SnapshotMetadata, type SnapshotRow } from './metadata.ts';
import type {
  DirectWrite,
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from './snapshotter.ts';

/** One snapshot as the directory snapshotters see it. */
export interface DirSnapshot {
  key: string;
  kind: SnapshotKind;
  id: number;
  parent: string | undefined;
}

export abstract class DirSnapshotter implements Snapshotter {
  abstract readonly driver: string;
  #meta: SnapshotMetadata<number> | undefined;
  /** Directories allocated by this process whose row is not written yet. */
  readonly #inflight = new Set<number>();
  #nextId = 0;

  constructor(
    protected readonly db: DB,
    /** `<brig root>/snapshots/<driver>` */
    readonly root: string,
  ) {
    // 0700: image files (and their setuid binaries) are not for the host's other users
    mkdirSync(join(root, 'snapshots'), { recursive: true, mode: 0o700 });
  }

  protected dir(id: number): string {
    return join(this.root, 'snapshots', String(id));
  }
  protected fsDir(id: number): string {
    return join(this.dir(id), 'fs');
  }

  /** Fill the new directory `id` (already created, empty) for a snapshot on `chain` (parent first). */
  protected abstract populate(id: number, kind: 'active' | 'view', chain: DirSnapshot[]): Promise<void>;
  /** The mounts of a snapshot given its parent chain (parent first). */
  protected abstract mountsOf(snap: DirSnapshot, chain: DirSnapshot[]): Mount[];
  /** After commit (the row is already committed). */
  protected abstract committed(id: number): Promise<void>;
  /** How a layer written straight into `N/fs` must leave its whiteouts. */
  protected abstract readonly whiteouts: DirectWrite['whiteouts'];

  /** An active snapshot's `N/fs`, where a layer can be applied without mounting anything. */
  async directWrite(key: string): Promise<DirectWrite | null> {
    const s = this.snap(key);
    if (s.kind !== 'active')
      throw new BrigError('ERR_SNAPSHOT_STATE', `${this.driver} snapshot ${key} is ${s.kind}, not active`);
    return { root: this.fsDir(s.id), whiteouts: this.whiteouts };
  }

  // --- metadata -------------------------------------------------------------------------------

  /** The rows of this driver; made on first use (`driver` is a subclass field, unset in our constructor). */
  protected get meta(): SnapshotMetadata<number> {
    this.#meta ??= new SnapshotMetadata(this.db, this.driver, infoId);
    return this.#meta;
  }

  protected snap(key: string): DirSnapshot {
    return toSnap(this.meta.need(key));
  }

  /** The committed ancestors of `parent`, nearest first. */
  protected chain(parent: string | undefined): DirSnapshot[] {
    const out: DirSnapshot[] = [];
    let p = parent;
    while (p !== undefined) {
      const s = this.snap(p);
      out.push(s);
      p = s.parent;
      if (out.length > 10_000) throw new BrigError('ERR_INTERNAL', `snapshot parent loop at ${p}`);
    }
    return out;
  }

  #allocate(): number {
    if (this.#nextId === 0) {
      let max = 0;
      for (const id of this.meta.infos()) max = Math.max(max, id);
      for (const n of readdirSync(join(this.root, 'snapshots'))) {
        if (/^\d+$/.test(n)) max = Math.max(max, Number(n));
      }
      this.#nextId = max + 1;
    }
    for (;;) {
      const id = this.#nextId++;
      try {
        mkdirSync(this.dir(id), { mode: 0o700 });
        this.#inflight.add(id);
        return id;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
  }

  async #create(
    key: string,
    parent: string | undefined,
    kind: 'active' | 'view',
    opts: SnapshotOptions,
  ): Promise<Mount[]> {
    checkKey(key);
    this.meta.checkFree(key);
    const chain = this.chain(parent);
    if (chain[0]) checkParentKind(parent, chain[0].kind);
    this.meta.holdParent(parent);
    let id: number | undefined;
    try {
      id = this.#allocate();
      await this.populate(id, kind, chain);
      this.meta.insert(key, parent, kind, opts.labels, { id });
      this.#inflight.delete(id);
      return this.mountsOf({ key, kind, id, parent }, chain);
    } catch (e) {
      if (id !== undefined) {
        await rm(this.dir(id), { recursive: true, force: true }).catch(() => {});
        this.#inflight.delete(id);
      }
      throw e;
    } finally {
      this.meta.releaseParent(parent);
    }
  }

  // --- Snapshotter ----------------------------------------------------------------------------

  prepare(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create(key, parent, 'active', opts);
  }

  view(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create(key, parent, 'view', opts);
  }

  async mounts(key: string): Promise<Mount[]> {
    const s = this.snap(key);
    return this.mountsOf(s, this.chain(s.parent));
  }

  async commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    checkKey(name);
    const id = this.meta.commit(name, key, opts.labels);
    await this.committed(id);
  }

  async remove(key: string): Promise<void> {
    const id = this.meta.remove(key);
    await rm(this.dir(id), { recursive: true, force: true });
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.meta.stat(key);
  }

  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    return this.meta.walk(fn);
  }

  async usage(key: string): Promise<Usage> {
    const s = this.snap(key);
    return diskUsage(this.fsDir(s.id));
  }

  async cleanup(): Promise<{ removed: string[] }> {
    const known = new Set<number>(this.meta.infos());
    const removed: string[] = [];
    for (const n of await readdir(join(this.root, 'snapshots'))) {
      const id = /^\d+$/.test(n) ? Number(n) : undefined;
      if (id !== undefined && (known.has(id) || this.#inflight.has(id))) continue;
      const p = join(this.root, 'snapshots', n);
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    }
    return { removed };
  }
}

function toSnap(r: SnapshotRow): DirSnapshot {
  return { key: r.key, kind: r.kind, id: infoId(r.info), parent: r.parent ?? undefined };
}

function infoId(info: string): number {
  const id = (JSON.parse(info) as { id?: unknown }).id;
  if (typeof id !== 'number') throw new BrigError('ERR_DB', `snapshot row without a directory id: ${info}`);
  return id;
}

/** Bytes (allocated blocks) and inodes under `dir`, hard links counted once, not crossing mounts. */
export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  let dev: number | undefined;
  const visit = async (p: string): Promise<void> => {
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    dev ??= st.dev;
    if (st.dev !== dev) return;
    const id = `${st.ino}`;
    if (st.nlink > 1) {
      if (seen.has(id)) return;
      seen.add(id);
    }
    inodes++;
    size += st.blocks * 512;
    if (st.isDirectory()) {
      for (const n of await readdir(p)) await visit(join(p, n));
    }
  };
  await visit(dir);
  return { size, inodes };
}

/**
 * What the directory-backed snapshotters (overlay, native) share: metadata rows, numbered
 * directories, the crash-safe order of operations and `cleanup()`.
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
import type {
  DirectWrite,
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from './snapshotter.ts';

interface Row {
  driver: string;
  key: string;
  kind: SnapshotKind;
  parent: string | null;
  created_at: number;
  labels: string;
  info: string;
}

/** One snapshot as the directory snapshotters see it. */
export interface DirSnapshot {
  key: string;
  kind: SnapshotKind;
  id: number;
  parent: string | undefined;
}

export abstract class DirSnapshotter implements Snapshotter {
  abstract readonly driver: string;
  /** Parents being copied or referenced by a prepare that has not inserted its row yet. */
  readonly #pendingParents = new Map<string, number>();
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
  abstract directWrite(key: string): Promise<DirectWrite | null>;

  // --- metadata -------------------------------------------------------------------------------

  protected row(key: string): Row | undefined {
    return this.db.prepare('SELECT * FROM snapshots WHERE driver = ? AND key = ?').get(this.driver, key) as
      | Row
      | undefined;
  }

  protected snap(key: string): DirSnapshot {
    const r = this.row(key);
    if (!r) throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `no ${this.driver} snapshot ${key}`);
    return toSnap(r);
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
      const rows = this.db.prepare('SELECT info FROM snapshots WHERE driver = ?').all(this.driver) as {
        info: string;
      }[];
      for (const r of rows) max = Math.max(max, infoId(r.info));
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
    if (this.row(key))
      throw new BrigError('ERR_SNAPSHOT_EXISTS', `${this.driver} snapshot ${key} already exists`);
    const chain = this.chain(parent);
    if (chain[0] && chain[0].kind !== 'committed') {
      throw new BrigError('ERR_SNAPSHOT_STATE', `parent ${parent} is not a committed snapshot`);
    }
    if (parent !== undefined) this.#pendingParents.set(parent, (this.#pendingParents.get(parent) ?? 0) + 1);
    let id: number | undefined;
    try {
      id = this.#allocate();
      await this.populate(id, kind, chain);
      const newId = id;
      const created = Date.now();
      this.db.transaction(() => {
        if (this.row(key)) {
          throw new BrigError('ERR_SNAPSHOT_EXISTS', `${this.driver} snapshot ${key} already exists`);
        }
        if (parent !== undefined && this.row(parent)?.kind !== 'committed') {
          throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `parent snapshot ${parent} disappeared`);
        }
        this.db
          .prepare(
            'INSERT INTO snapshots (driver, key, kind, parent, created_at, labels, info) VALUES (?, ?, ?, ?, ?, ?, ?)',
          )
          .run(
            this.driver,
            key,
            kind,
            parent ?? null,
            created,
            JSON.stringify(opts.labels ?? {}),
            JSON.stringify({ id: newId }),
          );
      })();
      this.#inflight.delete(id);
      return this.mountsOf({ key, kind, id, parent }, chain);
    } catch (e) {
      if (id !== undefined) {
        await rm(this.dir(id), { recursive: true, force: true }).catch(() => {});
        this.#inflight.delete(id);
      }
      throw e;
    } finally {
      if (parent !== undefined) {
        const n = (this.#pendingParents.get(parent) ?? 1) - 1;
        if (n <= 0) this.#pendingParents.delete(parent);
        else this.#pendingParents.set(parent, n);
      }
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
    const id = this.db.transaction(() => {
      const r = this.row(key);
      if (!r) throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `no ${this.driver} snapshot ${key}`);
      if (r.kind !== 'active') {
        throw new BrigError('ERR_SNAPSHOT_STATE', `${this.driver} snapshot ${key} is ${r.kind}, not active`);
      }
      if (this.row(name))
        throw new BrigError('ERR_SNAPSHOT_EXISTS', `${this.driver} snapshot ${name} already exists`);
      const labels = { ...(JSON.parse(r.labels) as Record<string, string>), ...(opts.labels ?? {}) };
      this.db
        .prepare("UPDATE snapshots SET key = ?, kind = 'committed', labels = ? WHERE driver = ? AND key = ?")
        .run(name, JSON.stringify(labels), this.driver, key);
      return infoId(r.info);
    })();
    await this.committed(id);
  }

  async remove(key: string): Promise<void> {
    const id = this.db.transaction(() => {
      const r = this.row(key);
      if (!r) throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `no ${this.driver} snapshot ${key}`);
      const children = this.db
        .prepare('SELECT COUNT(*) AS n FROM snapshots WHERE driver = ? AND parent = ?')
        .get(this.driver, key) as { n: number };
      if (children.n > 0 || this.#pendingParents.has(key)) {
        throw new BrigError(
          'ERR_SNAPSHOT_IN_USE',
          `${this.driver} snapshot ${key} has ${children.n || 'pending'} children`,
        );
      }
      this.db.prepare('DELETE FROM snapshots WHERE driver = ? AND key = ?').run(this.driver, key);
      return infoId(r.info);
    })();
    await rm(this.dir(id), { recursive: true, force: true });
  }

  async stat(key: string): Promise<SnapshotInfo> {
    const r = this.row(key);
    if (!r) throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `no ${this.driver} snapshot ${key}`);
    return toInfo(r);
  }

  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    const rows = this.db
      .prepare('SELECT * FROM snapshots WHERE driver = ? ORDER BY created_at')
      .all(this.driver) as Row[];
    for (const r of rows) await fn(toInfo(r));
  }

  async usage(key: string): Promise<Usage> {
    const s = this.snap(key);
    return diskUsage(this.fsDir(s.id));
  }

  async cleanup(): Promise<{ removed: string[] }> {
    const known = new Set<number>();
    const rows = this.db.prepare('SELECT info FROM snapshots WHERE driver = ?').all(this.driver) as {
      info: string;
    }[];
    for (const r of rows) known.add(infoId(r.info));
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

function toSnap(r: Row): DirSnapshot {
  return { key: r.key, kind: r.kind, id: infoId(r.info), parent: r.parent ?? undefined };
}

function toInfo(r: Row): SnapshotInfo {
  return {
    name: r.key,
    kind: r.kind,
    ...(r.parent !== null ? { parent: r.parent } : {}),
    labels: JSON.parse(r.labels) as Record<string, string>,
    created: r.created_at,
  };
}

function infoId(info: string): number {
  const id = (JSON.parse(info) as { id?: unknown }).id;
  if (typeof id !== 'number') throw new BrigError('ERR_DB', `snapshot row without a directory id: ${info}`);
  return id;
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 4096 || key.includes('\0')) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `invalid snapshot key ${JSON.stringify(key)}`);
  }
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

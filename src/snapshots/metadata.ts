/**
 * Snapshot metadata: the rows of one driver in the `snapshots` table of brig.db, and the checked
 * operations every snapshotter (directories, zfs datasets) makes on them.
 *
 * A row is (driver, key, kind, parent, created_at, labels, info); `info` is the backend's JSON
 * (where its storage is), parsed by the `parseInfo` the snapshotter gives.
 *
 * Contract (the snapshotter owns the storage and the order around these calls):
 *   - `insert`, `commit` and `remove` each run in ONE transaction that re-checks what they depend on
 *     (the key is free, the parent is still committed, the key is still active, no children), so
 *     the checks a snapshotter made before slow storage work cannot have gone stale.
 *   - The snapshotter creates storage BEFORE `insert` and destroys it AFTER `remove`: a crash then
 *     leaves at worst storage no row names, which its `cleanup()` removes.
 *   - `holdParent` / `releaseParent` bracket a create in progress: until its row is inserted,
 *     `remove` of that parent is refused (ERR_SNAPSHOT_IN_USE) as if the child already existed.
 *   - Errors: unknown key ERR_SNAPSHOT_NOT_FOUND; taken key/name ERR_SNAPSHOT_EXISTS; a commit of a
 *     non-active snapshot or a parent that is not committed ERR_SNAPSHOT_STATE; a snapshot with
 *     children ERR_SNAPSHOT_IN_USE; an unreadable `info` ERR_DB (from `parseInfo`).
 */
import { BrigError } from '../errors/errors.ts';
import type { DB } from '../metadata/db.ts';
import type { SnapshotInfo, SnapshotKind } from './snapshotter.ts';

export interface SnapshotRow {
  key: string;
  kind: SnapshotKind;
  parent: string | null;
  created_at: number;
  labels: string;
  info: string;
}

const COLUMNS = 'key, kind, parent, created_at, labels, info';

export class SnapshotMetadata<I> {
  /** Parents referenced by a create that has not inserted its row yet (count per parent). */
  readonly #pendingParents = new Map<string, number>();

  constructor(
    readonly db: DB,
    readonly driver: string,
    /** Parses a row's `info`; throws ERR_DB when it is not the backend's. */
    readonly parseInfo: (info: string) => I,
  ) {}

  row(key: string): SnapshotRow | undefined {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM snapshots WHERE driver = ? AND key = ?`)
      .get(this.driver, key) as SnapshotRow | undefined;
  }

  /** The row of `key`, or ERR_SNAPSHOT_NOT_FOUND. */
  need(key: string): SnapshotRow {
    const r = this.row(key);
    if (!r) throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `no ${this.driver} snapshot ${key}`);
    return r;
  }

  /** ERR_SNAPSHOT_EXISTS when `key` names a row. */
  checkFree(key: string): void {
    if (this.row(key))
      throw new BrigError('ERR_SNAPSHOT_EXISTS', `${this.driver} snapshot ${key} already exists`);
  }

  /** The parsed `info` of every row of this driver. */
  infos(): I[] {
    const rows = this.db.prepare('SELECT info FROM snapshots WHERE driver = ?').all(this.driver) as {
      info: string;
    }[];
    return rows.map((r) => this.parseInfo(r.info));
  }

  holdParent(parent: string | undefined): void {
    if (parent !== undefined) this.#pendingParents.set(parent, (this.#pendingParents.get(parent) ?? 0) + 1);
  }

  releaseParent(parent: string | undefined): void {
    if (parent !== undefined) {
      const n = (this.#pendingParents.get(parent) ?? 1) - 1;
      if (n <= 0) this.#pendingParents.delete(parent);
      else this.#pendingParents.set(parent, n);
    }
  }

  /** Inserts a new row in one transaction that re-checks the key is free and the parent committed. */
  insert(
    key: string,
    parent: string | undefined,
    kind: 'active' | 'view',
    labels: Record<string, string> | undefined,
    /** What the row's `info` holds (stored as JSON; `parseInfo` reads it back). */
    info: object,
  ): void {
    const created = Date.now();
    this.db.transaction(() => {
      this.checkFree(key);
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
          JSON.stringify(labels ?? {}),
          JSON.stringify(info),
        );
    })();
  }

  /** What `commit(name, key)` requires, checked without a transaction: returns the row of `key`. */
  checkCommit(name: string, key: string): SnapshotRow {
    const r = this.need(key);
    if (r.kind !== 'active') {
      throw new BrigError('ERR_SNAPSHOT_STATE', `${this.driver} snapshot ${key} is ${r.kind}, not active`);
    }
    this.checkFree(name);
    return r;
  }

  /**
   * Renames the active row `key` to the committed row `name` (labels merged) in one transaction
   * that re-checks it; returns the row's parsed `info`.
   */
  commit(name: string, key: string, labels: Record<string, string> | undefined): I {
    return this.db.transaction(() => {
      const r = this.checkCommit(name, key);
      const merged = { ...(JSON.parse(r.labels) as Record<string, string>), ...(labels ?? {}) };
      this.db
        .prepare("UPDATE snapshots SET key = ?, kind = 'committed', labels = ? WHERE driver = ? AND key = ?")
        .run(name, JSON.stringify(merged), this.driver, key);
      return this.parseInfo(r.info);
    })();
  }

  /**
   * Deletes the row of `key` in one transaction, refused (ERR_SNAPSHOT_IN_USE) while a row or a
   * create in progress has it as parent; returns the deleted row's parsed `info`.
   */
  remove(key: string): I {
    return this.db.transaction(() => {
      const r = this.need(key);
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
      return this.parseInfo(r.info);
    })();
  }

  stat(key: string): SnapshotInfo {
    return toInfo(this.need(key));
  }

  /** Calls fn for every row of this driver, oldest first. */
  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    const rows = this.db
      .prepare(`SELECT ${COLUMNS} FROM snapshots WHERE driver = ? ORDER BY created_at`)
      .all(this.driver) as SnapshotRow[];
    for (const r of rows) await fn(toInfo(r));
  }
}

/** ERR_SNAPSHOT_STATE unless the parent snapshot (of kind `kind`) is committed. */
export function checkParentKind(parent: string | undefined, kind: SnapshotKind): void {
  if (kind !== 'committed') {
    throw new BrigError('ERR_SNAPSHOT_STATE', `parent ${parent} is not a committed snapshot`);
  }
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 4096 || key.includes('\0')) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `invalid snapshot key ${JSON.stringify(key)}`);
  }
}

function toInfo(r: SnapshotRow): SnapshotInfo {
  return {
    name: r.key,
    kind: r.kind,
    ...(r.parent !== null ? { parent: r.parent } : {}),
    labels: JSON.parse(r.labels) as Record<string, string>,
    created: r.created_at,
  };
}

/**
 * The zfs snapshotter: one ZFS dataset per snapshot, under a configured parent dataset.
 *
 * Layout (DATASET is `storage.zfs.dataset`, e.g. `zroot/brig`; its mountpoint is inherited):
 *
 *   DATASET/1             a committed layer: a filesystem, readonly=on
 *   DATASET/1@committed   the snapshot its children are cloned from
 *   DATASET/2             an active snapshot: `zfs clone DATASET/1@committed DATASET/2`
 *   DATASET/3             a view: a clone with readonly=on
 *   ...
 * Datasets are numbered (never named by key) so that keys may hold any character; the number is
 * in the row's `info` (`{"id": N, "mountpoint": "/zroot/brig/N"}`).
 *
 *   prepare(key)            zfs create DATASET/N                           (no parent)
 *   prepare(key, parent)    zfs clone DATASET/P@committed DATASET/N
 *   view(key, parent)       the same with `-o readonly=on`
 *   commit(name, key)       zfs snapshot DATASET/N@committed ; zfs set readonly=on DATASET/N
 *   remove(key)             zfs destroy -r DATASET/N   (its @committed goes with it)
 *   mounts(key)             a nullfs mount of the dataset's mountpoint (`ro` for views/committed)
 *   diff(key)               zfs diff -FH DATASET/P@committed DATASET/N, read by ./zfs-diff.ts
 *
 * No zfs command runs before the configured dataset is known to exist: the first operation runs
 * `zfs list -H -o name DATASET` once; when it fails, every operation throws ERR_ZFS_DATASET.
 *
 * Crash safety (as ../dir-snapshotter.ts): the dataset is made before its row is inserted and
 * destroyed after its row is deleted; a crash leaves at worst a numbered dataset no row names,
 * which `cleanup()` destroys. Commit snapshots first and updates the row second; a leftover
 * `@committed` on an active dataset is harmless (a commit that finds it destroys and retakes it).
 */
import { BrigError } from '../../errors/errors.ts';
import type { DB } from '../../metadata/db.ts';
import { type CommandRunner, commandFailed } from '../../platform/exec.ts';
import { checkKey, diskUsage } from '../dir-snapshotter.ts';
import type {
  DirectWrite,
  Mount,
  SnapshotInfo,
  SnapshotKind,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from '../snapshotter.ts';
import { parseZfsDiff, type ZfsDiffResult } from './zfs-diff.ts';

const SNAP = 'committed';

interface Row {
  key: string;
  kind: SnapshotKind;
  parent: string | null;
  created_at: number;
  labels: string;
  info: string;
}

interface ZfsInfo {
  id: number;
  mountpoint: string;
}

export interface ZfsOptions {
  /** The parent dataset (`storage.zfs.dataset`); must exist. */
  dataset: string;
  /** How zfs(8) runs: the host's runner, or the simulated host's. */
  runner: CommandRunner;
  /** The zfs command (default `zfs`). */
  zfs?: string;
}

export class ZfsSnapshotter implements Snapshotter {
  readonly driver = 'zfs';
  readonly dataset: string;
  readonly #db: DB;
  readonly #runner: CommandRunner;
  readonly #zfs: string;
  #checked: Promise<void> | undefined;
  #nextId = 0;
  readonly #inflight = new Set<number>();
  readonly #pendingParents = new Map<string, number>();

  constructor(db: DB, opts: ZfsOptions) {
    this.#db = db;
    this.dataset = opts.dataset.replace(/\/+$/, '');
    this.#runner = opts.runner;
    this.#zfs = opts.zfs ?? 'zfs';
  }

  /** `zfs list -H -o name DATASET`, once: nothing else runs unless it succeeds. */
  ensureDataset(): Promise<void> {
    this.#checked ??= (async () => {
      const r = await this.#runner.run(this.#zfs, ['list', '-H', '-o', 'name', this.dataset], {
        check: false,
      });
      if (r.code !== 0 || r.stdout.toString().trim() !== this.dataset) {
        throw new BrigError('ERR_ZFS_DATASET', `ZFS dataset ${this.dataset} does not exist`, {
          details: { dataset: this.dataset, stderr: r.stderr.toString().trim() },
        });
      }
    })();
    const p = this.#checked;
    // A failed check is retried next time (the operator may create the dataset meanwhile).
    p.catch(() => {
      if (this.#checked === p) this.#checked = undefined;
    });
    return p;
  }

  async #zfsRun(...args: string[]): Promise<string> {
    const r = await this.#runner.run(this.#zfs, args);
    return r.stdout.toString();
  }

  #ds(id: number): string {
    return `${this.dataset}/${id}`;
  }

  #row(key: string): Row | undefined {
    return this.#db
      .prepare(
        'SELECT key, kind, parent, created_at, labels, info FROM snapshots WHERE driver = ? AND key = ?',
      )
      .get(this.driver, key) as Row | undefined;
  }

  #need(key: string): Row {
    const r = this.#row(key);
    if (!r) throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `no zfs snapshot ${key}`);
    return r;
  }

  async #allocate(): Promise<number> {
    if (this.#nextId === 0) {
      let max = 0;
      for (const r of this.#db.prepare('SELECT info FROM snapshots WHERE driver = ?').all(this.driver) as {
        info: string;
      }[])
        max = Math.max(max, infoOf(r.info).id);
      for (const id of await this.#children()) max = Math.max(max, id);
      this.#nextId = Math.max(this.#nextId, max + 1);
    }
    const id = this.#nextId++;
    this.#inflight.add(id);
    return id;
  }

  /** Numbered child datasets of DATASET (what exists on the host). */
  async #children(): Promise<number[]> {
    const out = await this.#zfsRun('list', '-H', '-o', 'name', '-t', 'filesystem', '-d', '1', this.dataset);
    const ids: number[] = [];
    for (const line of out.split('\n')) {
      const m = /^(.*)\/(\d+)$/.exec(line.trim());
      if (m && m[1] === this.dataset) ids.push(Number(m[2]));
    }
    return ids;
  }

  async #create(key: string, parent: string | undefined, kind: 'active' | 'view', opts: SnapshotOptions) {
    checkKey(key);
    await this.ensureDataset();
    if (this.#row(key)) throw new BrigError('ERR_SNAPSHOT_EXISTS', `zfs snapshot ${key} already exists`);
    const p = parent === undefined ? undefined : this.#need(parent);
    if (p && p.kind !== 'committed')
      throw new BrigError('ERR_SNAPSHOT_STATE', `parent ${parent} is not a committed snapshot`);
    if (parent !== undefined) this.#pendingParents.set(parent, (this.#pendingParents.get(parent) ?? 0) + 1);
    let id: number | undefined;
    let made = false;
    try {
      id = await this.#allocate();
      const ds = this.#ds(id);
      const ro = kind === 'view' ? ['-o', 'readonly=on'] : [];
      if (p) await this.#zfsRun('clone', ...ro, `${this.#ds(infoOf(p.info).id)}@${SNAP}`, ds);
      else await this.#zfsRun('create', ...ro, ds);
      made = true;
      const mountpoint = (await this.#zfsRun('get', '-H', '-o', 'value', 'mountpoint', ds)).trim();
      if (!mountpoint.startsWith('/'))
        throw new BrigError('ERR_ZFS_DATASET', `${ds} has no mountpoint (${mountpoint})`, {
          hint: `Give ${this.dataset} a mountpoint: zfs set mountpoint=/var/db/brig/zfs ${this.dataset}`,
        });
      const info: ZfsInfo = { id, mountpoint };
      this.#db.transaction(() => {
        if (this.#row(key)) throw new BrigError('ERR_SNAPSHOT_EXISTS', `zfs snapshot ${key} already exists`);
        if (parent !== undefined && this.#row(parent)?.kind !== 'committed')
          throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `parent snapshot ${parent} disappeared`);
        this.#db
          .prepare(
            'INSERT INTO snapshots (driver, key, kind, parent, created_at, labels, info) VALUES (?, ?, ?, ?, ?, ?, ?)',
          )
          .run(
            this.driver,
            key,
            kind,
            parent ?? null,
            Date.now(),
            JSON.stringify(opts.labels ?? {}),
            JSON.stringify(info),
          );
      })();
      this.#inflight.delete(id);
      return this.#mountsOf(kind, info);
    } catch (e) {
      if (id !== undefined) {
        if (made) await this.#runner.run(this.#zfs, ['destroy', '-r', this.#ds(id)], { check: false });
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

  #mountsOf(kind: SnapshotKind, info: ZfsInfo): Mount[] {
    return [{ type: 'nullfs', source: info.mountpoint, options: [kind === 'active' ? 'rw' : 'ro'] }];
  }

  prepare(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create(key, parent, 'active', opts);
  }

  view(key: string, parent?: string, opts: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create(key, parent, 'view', opts);
  }

  async mounts(key: string): Promise<Mount[]> {
    const r = this.#need(key);
    return this.#mountsOf(r.kind, infoOf(r.info));
  }

  async commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    checkKey(name);
    await this.ensureDataset();
    const r = this.#need(key);
    if (r.kind !== 'active')
      throw new BrigError('ERR_SNAPSHOT_STATE', `zfs snapshot ${key} is ${r.kind}, not active`);
    if (this.#row(name)) throw new BrigError('ERR_SNAPSHOT_EXISTS', `zfs snapshot ${name} already exists`);
    const ds = this.#ds(infoOf(r.info).id);
    const snapArgs = ['snapshot', `${ds}@${SNAP}`];
    const snap = await this.#runner.run(this.#zfs, snapArgs, { check: false });
    if (snap.code !== 0) {
      if (!/already exists/.test(snap.stderr.toString())) throw commandFailed(this.#zfs, snapArgs, snap);
      // A leftover @committed (a crash after the snapshot, before the row) is retaken once.
      await this.#zfsRun('destroy', `${ds}@${SNAP}`);
      await this.#zfsRun('snapshot', `${ds}@${SNAP}`);
    }
    try {
      this.#db.transaction(() => {
        const cur = this.#row(key);
        if (!cur) throw new BrigError('ERR_SNAPSHOT_NOT_FOUND', `no zfs snapshot ${key}`);
        if (cur.kind !== 'active')
          throw new BrigError('ERR_SNAPSHOT_STATE', `zfs snapshot ${key} is ${cur.kind}, not active`);
        if (this.#row(name))
          throw new BrigError('ERR_SNAPSHOT_EXISTS', `zfs snapshot ${name} already exists`);
        const labels = { ...(JSON.parse(cur.labels) as Record<string, string>), ...(opts.labels ?? {}) };
        this.#db
          .prepare(
            "UPDATE snapshots SET key = ?, kind = 'committed', labels = ? WHERE driver = ? AND key = ?",
          )
          .run(name, JSON.stringify(labels), this.driver, key);
      })();
    } catch (e) {
      // Another commit of the same key won the race: its snapshot is the same one; leave it.
      if (!(e instanceof BrigError && this.#row(name)?.info === r.info))
        await this.#runner.run(this.#zfs, ['destroy', `${ds}@${SNAP}`], { check: false });
      throw e;
    }
    await this.#zfsRun('set', 'readonly=on', ds);
  }

  async remove(key: string): Promise<void> {
    await this.ensureDataset();
    const info = this.#db.transaction(() => {
      const r = this.#need(key);
      const children = this.#db
        .prepare('SELECT COUNT(*) AS n FROM snapshots WHERE driver = ? AND parent = ?')
        .get(this.driver, key) as { n: number };
      if (children.n > 0 || this.#pendingParents.has(key))
        throw new BrigError(
          'ERR_SNAPSHOT_IN_USE',
          `zfs snapshot ${key} has ${children.n || 'pending'} children`,
        );
      this.#db.prepare('DELETE FROM snapshots WHERE driver = ? AND key = ?').run(this.driver, key);
      return infoOf(r.info);
    })();
    await this.#zfsRun('destroy', '-r', this.#ds(info.id));
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return toInfo(this.#need(key));
  }

  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    const rows = this.#db
      .prepare(
        'SELECT key, kind, parent, created_at, labels, info FROM snapshots WHERE driver = ? ORDER BY created_at',
      )
      .all(this.driver) as Row[];
    for (const r of rows) await fn(toInfo(r));
  }

  /**
   * What the files of the snapshot's own dataset take (a walk of its mountpoint: `zfs get used`
   * lags until the transaction group is written, and counts its parent's blocks for a clone).
   */
  async usage(key: string): Promise<Usage> {
    const r = this.#need(key);
    return diskUsage(infoOf(r.info).mountpoint);
  }

  async directWrite(key: string): Promise<DirectWrite | null> {
    const r = this.#need(key);
    if (r.kind !== 'active')
      throw new BrigError('ERR_SNAPSHOT_STATE', `zfs snapshot ${key} is ${r.kind}, not active`);
    return { root: infoOf(r.info).mountpoint, whiteouts: 'delete' };
  }

  /**
   * The changes an active snapshot made to its parent, from `zfs diff -FH` (builds turn them into
   * a layer). A snapshot without parent: ERR_SNAPSHOT_STATE (everything in it is new; walk it).
   */
  async diff(key: string): Promise<ZfsDiffResult> {
    await this.ensureDataset();
    const r = this.#need(key);
    if (r.parent === null)
      throw new BrigError('ERR_SNAPSHOT_STATE', `zfs snapshot ${key} has no parent to compare with`);
    const p = this.#need(r.parent);
    const info = infoOf(r.info);
    const out = await this.#runner.run(this.#zfs, [
      'diff',
      '-FH',
      `${this.#ds(infoOf(p.info).id)}@${SNAP}`,
      this.#ds(info.id),
    ]);
    return parseZfsDiff(out.stdout, { mountpoint: info.mountpoint });
  }

  async cleanup(): Promise<{ removed: string[] }> {
    await this.ensureDataset();
    const known = new Set<number>();
    for (const r of this.#db.prepare('SELECT info FROM snapshots WHERE driver = ?').all(this.driver) as {
      info: string;
    }[])
      known.add(infoOf(r.info).id);
    const removed: string[] = [];
    for (const id of await this.#children()) {
      if (known.has(id) || this.#inflight.has(id)) continue;
      await this.#zfsRun('destroy', '-r', this.#ds(id));
      removed.push(this.#ds(id));
    }
    return { removed };
  }
}

function infoOf(info: string): ZfsInfo {
  const j = JSON.parse(info) as { id?: unknown; mountpoint?: unknown };
  if (typeof j.id !== 'number' || typeof j.mountpoint !== 'string')
    throw new BrigError('ERR_DB', `zfs snapshot row without a dataset id: ${info}`);
  return { id: j.id, mountpoint: j.mountpoint };
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

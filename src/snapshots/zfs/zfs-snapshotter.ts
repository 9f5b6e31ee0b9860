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
 *   prepare(key)            zfs create -o brig:root=OWNER DATASET/N                    (no parent)
 *   prepare(key, parent)    zfs clone -o brig:root=OWNER DATASET/P@committed DATASET/N
 *   view(key, parent)       the same with `-o readonly=on`
 *   commit(name, key)       zfs snapshot DATASET/N@committed ; zfs set readonly=on DATASET/N
 *   remove(key)             zfs destroy -r DATASET/N   (its @committed goes with it)
 *   mounts(key)             a nullfs mount of the dataset's mountpoint (`ro` for views/committed)
 *   diff(key)               zfs diff -FH DATASET/P@committed DATASET/N, read by ./zfs-diff.ts
 *
 * No zfs command runs before the configured dataset is known to exist: the first operation runs
 * `zfs list -H -o name DATASET` once; when it fails, every operation throws ERR_ZFS_DATASET.
 *
 * Crash safety (as ../dir-snapshotter.ts; the rows and their checked transactions are
 * ../metadata.ts): the dataset is made before its row is inserted and destroyed after its row is
 * deleted; a crash leaves at worst a numbered dataset no row names, which `cleanup()` destroys.
 *
 * Ownership: several brig roots may share DATASET (the default `zroot/brig`). Every dataset is
 * made with the user property `brig:root` set to this root's owner id (a random id kept in its
 * database, table `zfs_owner`), in the same create/clone command, and `cleanup()` destroys
 * only numbered children carrying this root's id: never another root's, never an unmarked one,
 * never one that only inherits the property from DATASET. Numbers are allocated above every
 * child that exists, whoever owns it.
 * Commit snapshots first and updates the row second; a leftover `@committed` on an active dataset
 * is harmless (a commit that finds it destroys and retakes it).
 */
import { randomUUID } from 'node:crypto';
import { BrigError } from '../../errors/errors.ts';
import type { DB } from '../../metadata/db.ts';
import { type CommandRunner, commandFailed } from '../../platform/exec.ts';
import { diskUsage } from '../dir-snapshotter.ts';
import { checkKey, checkParentKind, SnapshotMetadata } from '../metadata.ts';
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
/** The ZFS user property naming the brig root that made a dataset (zfsprops(7) "User Properties"). */
export const OWNER_PROPERTY = 'brig:root';

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
  readonly #meta: SnapshotMetadata<ZfsInfo>;
  readonly #runner: CommandRunner;
  readonly #zfs: string;
  #checked: Promise<void> | undefined;
  #nextId = 0;
  readonly #inflight = new Set<number>();
  readonly #db: DB;
  #ownerId: string | undefined;

  constructor(db: DB, opts: ZfsOptions) {
    this.#db = db;
    this.#meta = new SnapshotMetadata(db, this.driver, infoOf);
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

  /** This root's owner id for DATASET, made once and kept in the database (table zfs_owner). */
  get owner(): string {
    if (this.#ownerId === undefined) {
      this.#db.exec(
        'CREATE TABLE IF NOT EXISTS zfs_owner (dataset TEXT PRIMARY KEY, owner TEXT NOT NULL) STRICT',
      );
      this.#db
        .prepare('INSERT OR IGNORE INTO zfs_owner (dataset, owner) VALUES (?, ?)')
        .run(this.dataset, randomUUID());
      this.#ownerId = this.#db
        .prepare('SELECT owner FROM zfs_owner WHERE dataset = ?')
        .pluck()
        .get(this.dataset) as string;
    }
    return this.#ownerId;
  }

  async #zfsRun(...args: string[]): Promise<string> {
    const r = await this.#runner.run(this.#zfs, args);
    return r.stdout.toString();
  }

  #ds(id: number): string {
    return `${this.dataset}/${id}`;
  }

  async #allocate(): Promise<number> {
    if (this.#nextId === 0) {
      let max = 0;
      for (const info of this.#meta.infos()) max = Math.max(max, info.id);
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
    this.#meta.checkFree(key);
    const p = parent === undefined ? undefined : this.#meta.need(parent);
    if (p) checkParentKind(parent, p.kind);
    this.#meta.holdParent(parent);
    let id: number | undefined;
    let made = false;
    try {
      id = await this.#allocate();
      const ds = this.#ds(id);
      const ro = [...(kind === 'view' ? ['-o', 'readonly=on'] : []), '-o', `${OWNER_PROPERTY}=${this.owner}`];
      if (p) await this.#zfsRun('clone', ...ro, `${this.#ds(infoOf(p.info).id)}@${SNAP}`, ds);
      else await this.#zfsRun('create', ...ro, ds);
      made = true;
      const mountpoint = (await this.#zfsRun('get', '-H', '-o', 'value', 'mountpoint', ds)).trim();
      if (!mountpoint.startsWith('/'))
        throw new BrigError('ERR_ZFS_DATASET', `${ds} has no mountpoint (${mountpoint})`, {
          hint: `Give ${this.dataset} a mountpoint: zfs set mountpoint=/var/db/brig/zfs ${this.dataset}`,
        });
      const info: ZfsInfo = { id, mountpoint };
      this.#meta.insert(key, parent, kind, opts.labels, info);
      this.#inflight.delete(id);
      return this.#mountsOf(kind, info);
    } catch (e) {
      if (id !== undefined) {
        if (made) await this.#runner.run(this.#zfs, ['destroy', '-r', this.#ds(id)], { check: false });
        this.#inflight.delete(id);
      }
      throw e;
    } finally {
      this.#meta.releaseParent(parent);
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
    const r = this.#meta.need(key);
    return this.#mountsOf(r.kind, infoOf(r.info));
  }

  async commit(name: string, key: string, opts: SnapshotOptions = {}): Promise<void> {
    checkKey(name);
    await this.ensureDataset();
    const r = this.#meta.checkCommit(name, key);
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
      this.#meta.commit(name, key, opts.labels);
    } catch (e) {
      // Another commit of the same key won the race: its snapshot is the same one; leave it.
      if (!(e instanceof BrigError && this.#meta.row(name)?.info === r.info))
        await this.#runner.run(this.#zfs, ['destroy', `${ds}@${SNAP}`], { check: false });
      throw e;
    }
    await this.#zfsRun('set', 'readonly=on', ds);
  }

  async remove(key: string): Promise<void> {
    await this.ensureDataset();
    const info = this.#meta.remove(key);
    await this.#zfsRun('destroy', '-r', this.#ds(info.id));
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.#meta.stat(key);
  }

  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    return this.#meta.walk(fn);
  }

  /**
   * What the files of the snapshot's own dataset take (a walk of its mountpoint: `zfs get used`
   * lags until the transaction group is written, and counts its parent's blocks for a clone).
   */
  async usage(key: string): Promise<Usage> {
    const r = this.#meta.need(key);
    return diskUsage(infoOf(r.info).mountpoint);
  }

  async directWrite(key: string): Promise<DirectWrite | null> {
    const r = this.#meta.need(key);
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
    const r = this.#meta.need(key);
    if (r.parent === null)
      throw new BrigError('ERR_SNAPSHOT_STATE', `zfs snapshot ${key} has no parent to compare with`);
    const p = this.#meta.need(r.parent);
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
    const known = new Set<number>(this.#meta.infos().map((i) => i.id));
    const removed: string[] = [];
    const out = await this.#zfsRun(
      'list',
      '-H',
      '-o',
      `name,${OWNER_PROPERTY}`,
      '-t',
      'filesystem',
      '-d',
      '1',
      this.dataset,
    );
    const owners = new Map<string, string>();
    for (const line of out.split('\n')) {
      const [name, owner] = line.split('\t');
      if (name && owner !== undefined) owners.set(name, owner);
    }
    // a value DATASET itself has is inherited by every child: it marks nothing
    const inherited = owners.get(this.dataset);
    for (const id of await this.#children()) {
      if (known.has(id) || this.#inflight.has(id)) continue;
      const owner = owners.get(this.#ds(id));
      if (owner !== this.owner || owner === inherited) continue;
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

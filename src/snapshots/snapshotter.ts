/**
 * Snapshotter: copy-on-write filesystem trees for image layers and container root filesystems.
 *
 * Vocabulary (containerd's, used everywhere in brig):
 *   - An **active** snapshot is writable and named by a `key`. `prepare(key, parent)` makes one.
 *   - A **view** is a read-only active snapshot: `view(key, parent)`. It can be removed, never
 *     committed.
 *   - A **committed** snapshot is immutable and named by a `name`. `commit(name, key)` turns the
 *     active snapshot `key` into the committed snapshot `name`; `key` no longer exists afterwards.
 *     Image layers are committed snapshots named by their chain id (see ./unpack.ts).
 *   - `parent` is always the name of a committed snapshot. A snapshot sees its parent chain's
 *     files with its own changes on top (a file deleted in a child is hidden there, not below).
 *   Keys and names share one namespace per driver: a name cannot be prepared as a key again.
 *
 * Lifecycle: prepare|view -> (mounts, write through the mounts) -> commit | remove;
 *            committed -> remove (only once nothing has it as parent).
 *
 * Contract:
 *   - `prepare`/`view` return the `Mount`s that show the snapshot; `mounts(key)` returns them again
 *     later (after a daemon restart too). A Mount is DATA: the snapshotter never mounts anything.
 *     The caller mounts them with `mountAll` (./mount.ts) or hands them to a runtime.
 *   - `remove` refuses with ERR_SNAPSHOT_IN_USE while another snapshot has it as parent; the caller
 *     must have unmounted it. `commit` refuses a view or a committed snapshot (ERR_SNAPSHOT_STATE).
 *   - Unknown key: ERR_SNAPSHOT_NOT_FOUND; taken key/name: ERR_SNAPSHOT_EXISTS; a parent that is
 *     not committed: ERR_SNAPSHOT_STATE.
 *   - Crash safety: metadata lives in the `snapshots` table of brig.db (driver, key, kind, parent,
 *     labels, info). A directory (or dataset) is created before its row is inserted and removed
 *     after its row is deleted, each row change in one transaction; so a crash leaves at worst an
 *     orphaned directory that no row names, which `cleanup()` removes.
 *   - `directWrite(key)` optionally gives a directory the caller may write the snapshot's changes
 *     into without mounting anything (the overlay upper directory, the native copy), and how layer
 *     whiteouts must be written there. Unpacking uses it to avoid a mount per layer.
 *
 * Implementations:
 *   - overlay (Linux default, ./overlay): committed layers are directories shared read-only by all
 *     their children; an active snapshot is an empty upper + work directory; its mount is
 *     `overlay` with `lowerdir=` the parent chain (or a bind mount when it has no parent).
 *   - native (./native): plain directories; prepare copies the whole parent tree; mounts are binds.
 *   - zfs (FreeBSD issue, ./zfs): one dataset per snapshot under a configured parent dataset.
 *     commit = `zfs snapshot DS@committed` (the active dataset becomes the committed one and is set
 *     readonly), prepare = `zfs clone DS@committed NEWDS` of the parent (a new empty dataset when
 *     there is no parent), view = clone with readonly=on, remove = `zfs destroy` (refused with
 *     children, as here), mounts = a `nullfs` (FreeBSD) or `zfs` mount of the dataset's mountpoint,
 *     directWrite = the clone's mountpoint with whiteouts deleted, usage = `zfs get used,...`.
 *     Nothing in this interface assumes a directory per snapshot except `directWrite`, which may
 *     return null (the caller then mounts and writes through the mount).
 */

export type SnapshotKind = 'active' | 'view' | 'committed';

/** A mount to perform; see ./mount.ts for how brig performs it. */
export interface Mount {
  /** Filesystem type: 'overlay', 'bind' (Linux), 'nullfs' (FreeBSD), 'zfs', 'tmpfs', ... */
  type: string;
  source: string;
  /** Path relative to the mount root; absent or '' means the root itself. */
  target?: string;
  /** mount(8) -o options, e.g. ['ro'] or ['lowerdir=...', 'upperdir=...', 'workdir=...']. */
  options: string[];
  /**
   * Directory the mount must be performed from: set only when option paths are relative because
   * the absolute ones would not fit in one page of mount data (overlay with many layers).
   */
  cwd?: string;
}

export interface SnapshotInfo {
  /** The key (active, view) or name (committed). */
  name: string;
  kind: SnapshotKind;
  parent?: string;
  labels: Record<string, string>;
  /** Milliseconds since the epoch. */
  created: number;
}

export interface Usage {
  /** Bytes used by this snapshot itself (not its parents), hard links counted once. */
  size: number;
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

export interface DirectWrite {
  /** Directory that holds (only) this snapshot's changes, or its whole tree (native, zfs). */
  root: string;
  /** How a layer's whiteouts must be written there (see applyLayer). */
  whiteouts: 'delete' | 'overlay';
}

export interface Snapshotter {
  /** 'overlay' | 'native' | 'zfs': the driver column of its metadata rows. */
  readonly driver: string;
  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo>;
  /** Calls fn for every snapshot of this driver (order unspecified). */
  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void>;
  usage(key: string): Promise<Usage>;
  directWrite(key: string): Promise<DirectWrite | null>;
  /** Removes storage that no metadata row names (left by a crash). Returns what it removed. */
  cleanup(): Promise<{ removed: string[] }>;
}

/**
 * Named volumes (driver `local`: a directory on the host).
 *
 * Vocabulary: a volume is **named** when a user (or an image's `brig.volumes` entry bound by the
 * user) chose its name, **anonymous** when brig made it for a container (`-v /dst`, or a volume
 * the image declares and nobody provided); anonymous names are 64 hex digits. A volume is **in
 * use** while a container holds it: the container lifecycle calls `acquire(name, containerId)`
 * when it creates a container that mounts it, and `release`/`releaseContainer` when that
 * container is removed. Usage is the `volume_users` table, so it survives daemon restarts.
 *
 * Contract:
 *   - create(name?) refuses a taken name (ERR_VOLUME_EXISTS) and an invalid one
 *     (ERR_INVALID_ARGUMENT: `[A-Za-z0-9][A-Za-z0-9_.-]+`, at most 255 characters).
 *   - remove refuses a volume in use (ERR_VOLUME_IN_USE), unknown: ERR_VOLUME_NOT_FOUND.
 *   - prune removes unused anonymous volumes; with `all`, every unused volume.
 *   - Crash safety: the directory is made before its row is inserted and removed after its row
 *     is deleted; `cleanup()` (at daemon start) removes directories that no row names.
 *
 * On disk:
 *   <root>/volumes/             mode 0701
 *     <name>/                   mode 0700 (only root walks into the volume's parent)
 *       _data/                  the volume itself (the mountpoint), mode 0755, root:root
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError } from '../errors/errors.ts';
import type { EventLog } from '../events/events.ts';
import type { DB } from '../metadata/db.ts';
import { diskUsage } from '../snapshots/dir-snapshotter.ts';

export interface Volume {
  name: string;
  driver: 'local';
  /** The directory containers see. */
  mountpoint: string;
  anonymous: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Ids of the containers using it. */
  usedBy: string[];
}

export interface CreateVolumeOptions {
  driver?: string;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  /** Made for a container rather than by a user (the name, when given, still applies). */
  anonymous?: boolean;
}

export interface VolumeFilter {
  /** true: only volumes no container uses; false: only used ones. */
  dangling?: boolean;
  /** `key` or `key=value`, all must match. */
  label?: string[];
  /** Substring of the name. */
  name?: string;
}

interface Row {
  name: string;
  driver: string;
  mountpoint: string;
  anonymous: number;
  labels: string;
  options: string;
  created_at: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]+$/;

export function validVolumeName(name: string): boolean {
  return typeof name === 'string' && name.length <= 255 && NAME.test(name);
}

export class VolumeService {
  readonly dir: string;

  /** `root` is the brig root; volumes live in `<root>/volumes`. */
  constructor(
    private readonly db: DB,
    root: string,
    private readonly events?: EventLog,
  ) {
    this.dir = join(root, 'volumes');
    mkdirSync(this.dir, { recursive: true, mode: 0o701 });
  }

  #row(name: string): Row | undefined {
    return this.db.prepare('SELECT * FROM volumes WHERE name = ?').get(name) as Row | undefined;
  }

  #users(name: string): string[] {
    return (
      this.db
        .prepare('SELECT container_id FROM volume_users WHERE volume = ? ORDER BY container_id')
        .all(name) as {
        container_id: string;
      }[]
    ).map((r) => r.container_id);
  }

  #toVolume(r: Row): Volume {
    return {
      name: r.name,
      driver: 'local',
      mountpoint: r.mountpoint,
      anonymous: r.anonymous === 1,
      labels: JSON.parse(r.labels) as Record<string, string>,
      options: JSON.parse(r.options) as Record<string, string>,
      createdAt: r.created_at,
      usedBy: this.#users(r.name),
    };
  }

  create(name: string | undefined, opts: CreateVolumeOptions = {}): Volume {
    const anonymous = opts.anonymous ?? name === undefined;
    const n = name ?? randomBytes(32).toString('hex');
    if (!validVolumeName(n)) {
      throw new BrigError('ERR_INVALID_ARGUMENT', `invalid volume name ${JSON.stringify(n)}`, {
        hint: 'A volume name is [A-Za-z0-9][A-Za-z0-9_.-]+ (at least 2 characters).',
      });
    }
    const driver = opts.driver ?? 'local';
    if (driver !== 'local') {
      throw new BrigError('ERR_INVALID_ARGUMENT', `unknown volume driver ${driver}`, {
        hint: 'Use the local driver.',
      });
    }
    const options = opts.options ?? {};
    if (Object.keys(options).length > 0) {
      throw new BrigError(
        'ERR_INVALID_ARGUMENT',
        `the local volume driver takes no options (got ${Object.keys(options).join(', ')})`,
      );
    }
    if (this.#row(n)) throw new BrigError('ERR_VOLUME_EXISTS', `volume ${n} already exists`);
    const vdir = join(this.dir, n);
    // Nothing names a directory without a row: it is an orphan (a crash), never a live volume.
    rmSync(vdir, { recursive: true, force: true });
    mkdirSync(vdir, { mode: 0o700 });
    const mountpoint = join(vdir, '_data');
    mkdirSync(mountpoint, { mode: 0o755 });
    const labels = opts.labels ?? {};
    try {
      this.db
        .prepare(
          'INSERT INTO volumes (name, driver, mountpoint, anonymous, labels, options, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          n,
          driver,
          mountpoint,
          anonymous ? 1 : 0,
          JSON.stringify(labels),
          JSON.stringify(options),
          Date.now(),
        );
    } catch (e) {
      rmSync(vdir, { recursive: true, force: true });
      throw e;
    }
    this.events?.emit('volume', 'create', n, { driver });
    return this.inspect(n);
  }

  /** The volume `name`, created (named, not anonymous) when absent. `created` says which. */
  ensure(name: string, opts: CreateVolumeOptions = {}): { volume: Volume; created: boolean } {
    const r = this.#row(name);
    if (r) return { volume: this.#toVolume(r), created: false };
    return { volume: this.create(name, opts), created: true };
  }

  inspect(name: string): Volume {
    const r = this.#row(name);
    if (!r)
      throw new BrigError('ERR_VOLUME_NOT_FOUND', `no volume ${name}`, {
        hint: 'List volumes with `brig volume ls`.',
      });
    return this.#toVolume(r);
  }

  list(filter: VolumeFilter = {}): Volume[] {
    const rows = this.db.prepare('SELECT * FROM volumes ORDER BY name').all() as Row[];
    return rows
      .map((r) => this.#toVolume(r))
      .filter((v) => {
        if (filter.dangling !== undefined && (v.usedBy.length === 0) !== filter.dangling) return false;
        if (filter.name !== undefined && !v.name.includes(filter.name)) return false;
        for (const l of filter.label ?? []) {
          const i = l.indexOf('=');
          if (i < 0 ? !(l in v.labels) : v.labels[l.slice(0, i)] !== l.slice(i + 1)) return false;
        }
        return true;
      });
  }

  async remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const mountpoint = this.db.transaction(() => {
      const r = this.#row(name);
      if (!r) {
        if (opts.force) return undefined;
        throw new BrigError('ERR_VOLUME_NOT_FOUND', `no volume ${name}`);
      }
      const users = this.#users(name);
      if (users.length > 0) {
        throw new BrigError('ERR_VOLUME_IN_USE', `volume ${name} is used by ${users.length} container(s)`, {
          details: { containers: users },
        });
      }
      this.db.prepare('DELETE FROM volumes WHERE name = ?').run(name);
      return r.mountpoint;
    })();
    if (mountpoint === undefined) return;
    await rm(join(this.dir, name), { recursive: true, force: true });
    this.events?.emit('volume', 'destroy', name, {});
  }

  /** Removes unused anonymous volumes (all unused ones with `all`). */
  async prune(
    opts: { all?: boolean; label?: string[] } = {},
  ): Promise<{ removed: string[]; spaceReclaimed: number }> {
    const removed: string[] = [];
    let spaceReclaimed = 0;
    for (const v of this.list({ dangling: true, ...(opts.label ? { label: opts.label } : {}) })) {
      if (!opts.all && !v.anonymous) continue;
      const { size } = await diskUsage(v.mountpoint).catch(() => ({ size: 0 }));
      try {
        await this.remove(v.name);
      } catch (e) {
        if ((e as BrigError).code === 'ERR_VOLUME_IN_USE' || (e as BrigError).code === 'ERR_VOLUME_NOT_FOUND')
          continue;
        throw e;
      }
      removed.push(v.name);
      spaceReclaimed += size;
    }
    if (removed.length > 0) this.events?.emit('volume', 'prune', '', { count: String(removed.length) });
    return { removed, spaceReclaimed };
  }

  async size(name: string): Promise<number> {
    return (await diskUsage(this.inspect(name).mountpoint)).size;
  }

  /** Records that `containerId` uses the volume (idempotent). */
  acquire(name: string, containerId: string): void {
    this.db.transaction(() => {
      if (!this.#row(name)) throw new BrigError('ERR_VOLUME_NOT_FOUND', `no volume ${name}`);
      this.db
        .prepare('INSERT OR IGNORE INTO volume_users (volume, container_id) VALUES (?, ?)')
        .run(name, containerId);
    })();
  }

  /** Drops one use (idempotent). */
  release(name: string, containerId: string): void {
    this.db.prepare('DELETE FROM volume_users WHERE volume = ? AND container_id = ?').run(name, containerId);
  }

  /**
   * Drops every use by a container that is being removed; with `removeAnonymous` (`rm -v`,
   * `run --rm`) also removes the anonymous volumes it held that nobody else uses.
   */
  async releaseContainer(containerId: string, opts: { removeAnonymous?: boolean } = {}): Promise<string[]> {
    const names = (
      this.db.prepare('SELECT volume FROM volume_users WHERE container_id = ?').all(containerId) as {
        volume: string;
      }[]
    ).map((r) => r.volume);
    this.db.prepare('DELETE FROM volume_users WHERE container_id = ?').run(containerId);
    const removed: string[] = [];
    if (opts.removeAnonymous) {
      for (const n of names) {
        const r = this.#row(n);
        if (r?.anonymous !== 1 || this.#users(n).length > 0) continue;
        await this.remove(n);
        removed.push(n);
      }
    }
    return removed;
  }

  /** Removes volume directories that no row names (a crash between the two steps). */
  async cleanup(): Promise<{ removed: string[] }> {
    const removed: string[] = [];
    for (const n of await readdir(this.dir)) {
      if (this.#row(n)) continue;
      await rm(join(this.dir, n), { recursive: true, force: true });
      removed.push(n);
    }
    return { removed };
  }
}

/**
 * Numbered schema migrations of brig.db. A migration is never edited once committed: a schema
 * change is a new entry with the next number. `openDatabase` applies the missing ones in order,
 * each in its own transaction, and refuses a database whose version is newer than it knows.
 *
 * Tables (migration 1):
 *   images          name (a normalised reference, e.g. docker.io/library/busybox:latest) -> target
 *   leases, lease_blobs   content-store leases (blobs protected from GC)
 *   containers      container records (the running task is the runtime's business)
 *   volumes         named volumes
 *   events          the event log (seq is the cursor of `brig events --since`)
 *   snapshots       snapshotter metadata, per driver
 *   devfs_rulesets, devfs_users   allocated devfs rulesets and the containers using them
 * Later migrations:
 *   2  volume_users   which containers hold which volume (src/volumes/volume-service.ts)
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE images (
        name TEXT PRIMARY KEY,
        target_media_type TEXT NOT NULL,
        target_digest TEXT NOT NULL,
        target_size INTEGER NOT NULL,
        manifest_digest TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        platform TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX images_config ON images(config_digest);
      CREATE INDEX images_manifest ON images(manifest_digest);

      CREATE TABLE leases (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        labels TEXT NOT NULL DEFAULT '{}'
      );
      CREATE TABLE lease_blobs (
        lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        PRIMARY KEY (lease_id, digest)
      );

      CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image TEXT NOT NULL,
        image_id TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        spec TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT '{}',
        labels TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX containers_image ON containers(image_id);
      CREATE INDEX containers_state ON containers(state);

      CREATE TABLE volumes (
        name TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        mountpoint TEXT NOT NULL,
        anonymous INTEGER NOT NULL DEFAULT 0,
        labels TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL
      );

      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        type TEXT NOT NULL,
        action TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_time ON events(time);

      CREATE TABLE snapshots (
        driver TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        parent TEXT,
        created_at INTEGER NOT NULL,
        labels TEXT NOT NULL DEFAULT '{}',
        info TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (driver, key)
      );
      CREATE INDEX snapshots_parent ON snapshots(driver, parent);

      CREATE TABLE devfs_rulesets (
        number INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        rules TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE devfs_users (
        number INTEGER NOT NULL REFERENCES devfs_rulesets(number) ON DELETE CASCADE,
        container_id TEXT NOT NULL,
        PRIMARY KEY (number, container_id)
      );
    `,
  },
  {
    version: 2,
    name: 'volume users',
    // which containers use which volume (VolumeService.acquire/release); remove refuses while any
    sql: `
      CREATE TABLE volume_users (
        volume TEXT NOT NULL REFERENCES volumes(name) ON DELETE CASCADE,
        container_id TEXT NOT NULL,
        PRIMARY KEY (volume, container_id)
      );
      CREATE INDEX volume_users_container ON volume_users(container_id);
    `,
  },
];

/**
 * Image records in brig.db's `images` table: a name → the image's target descriptor.
 *
 *   name             canonical reference (docker.io/library/busybox:latest; REPO@sha256:… for the
 *                    digest a registry served or accepted for REPO: a pull by digest, and beside
 *                    REPO:TAG after a pull by tag or a push, see ./image-service.ts), or, for an image
 *                    that has no name (imported without one, or whose name moved to another
 *                    image: Docker's "dangling" <none>:<none>), its image id `sha256:<hex>`
 *   target_*         the descriptor of the image manifest (brig records the platform manifest,
 *                    never an index: an import or pull of an index picks one platform)
 *   manifest_digest  = target_digest
 *   config_digest    the image id, as `docker images` shows it
 *   platform         "os/arch[/variant]" from the config
 *
 * Invariant kept by `setName`/`removeName`: an image id has either one or more name rows, or
 * exactly one dangling row (name = id) — so every stored image stays listed and is a GC root
 * until `brig image rm` / `prune` removes its last row.
 */
import type { Descriptor, Digest } from '../content/store.ts';
import type { DB } from '../metadata/db.ts';

export interface ImageRecord {
  name: string;
  target: Descriptor;
  manifestDigest: Digest;
  configDigest: Digest;
  platform: string;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  name: string;
  target_media_type: string;
  target_digest: string;
  target_size: number;
  manifest_digest: string;
  config_digest: string;
  platform: string;
  created_at: number;
  updated_at: number;
}

function fromRow(r: Row): ImageRecord {
  return {
    name: r.name,
    target: { mediaType: r.target_media_type, digest: r.target_digest as Digest, size: r.target_size },
    manifestDigest: r.manifest_digest as Digest,
    configDigest: r.config_digest as Digest,
    platform: r.platform,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function isDanglingName(name: string): boolean {
  return name.startsWith('sha256:');
}

export class ImageStore {
  constructor(private readonly db: DB) {}

  get(name: string): ImageRecord | undefined {
    const r = this.db.prepare('SELECT * FROM images WHERE name = ?').get(name) as Row | undefined;
    return r && fromRow(r);
  }

  list(): ImageRecord[] {
    return (this.db.prepare('SELECT * FROM images ORDER BY created_at DESC, name').all() as Row[]).map(
      fromRow,
    );
  }

  byConfig(configDigest: string): ImageRecord[] {
    return (
      this.db.prepare('SELECT * FROM images WHERE config_digest = ? ORDER BY name').all(configDigest) as Row[]
    ).map(fromRow);
  }

  /** Image ids starting with `prefix` (hex, without "sha256:"). */
  idsByPrefix(prefix: string): Digest[] {
    return this.db
      .prepare(
        'SELECT DISTINCT config_digest FROM images WHERE config_digest >= ? AND config_digest < ? ORDER BY 1',
      )
      .pluck()
      .all(`sha256:${prefix}`, `sha256:${prefix}\uffff`) as Digest[];
  }

  /** Target digests of every record: the GC roots. */
  roots(): Digest[] {
    return this.db.prepare('SELECT DISTINCT target_digest FROM images').pluck().all() as Digest[];
  }

  /**
   * Points `name` (canonical, or undefined for "no name") at an image, in one transaction.
   * Returns the image id that lost the name, if any (it is left dangling when it has no other name).
   */
  setName(
    name: string | undefined,
    rec: Omit<ImageRecord, 'name' | 'createdAt' | 'updatedAt'>,
  ): { replaced?: Digest } {
    const now = Date.now();
    const insert = this.db.prepare(
      `INSERT INTO images (name, target_media_type, target_digest, target_size, manifest_digest, config_digest, platform, created_at, updated_at)
       VALUES (@name, @mt, @digest, @size, @manifest, @config, @platform, @now, @now)
       ON CONFLICT(name) DO UPDATE SET target_media_type = @mt, target_digest = @digest, target_size = @size,
         manifest_digest = @manifest, config_digest = @config, platform = @platform, updated_at = @now`,
    );
    const params = (n: string) => ({
      name: n,
      mt: rec.target.mediaType,
      digest: rec.target.digest,
      size: rec.target.size,
      manifest: rec.manifestDigest,
      config: rec.configDigest,
      platform: rec.platform,
      now,
    });
    return this.db.transaction(() => {
      let replaced: Digest | undefined;
      if (name === undefined) {
        // Only when the image has no row at all: a named image stays named.
        if (this.byConfig(rec.configDigest).length === 0) insert.run(params(rec.configDigest));
        return {};
      }
      const old = this.get(name);
      if (old && old.configDigest !== rec.configDigest) replaced = old.configDigest;
      insert.run(params(name));
      this.db.prepare('DELETE FROM images WHERE name = ?').run(rec.configDigest);
      if (replaced && old && this.byConfig(replaced).length === 0)
        insert.run({ ...params(replaced), ...recParams(old), now });
      return replaced ? { replaced } : {};
    })();
  }

  /**
   * Points every one of `names` at the image in one transaction (a pull by tag records REPO:TAG
   * and REPO@DIGEST together): either all are recorded or, when one fails, none. Returns the
   * image ids that lost a name.
   */
  setNames(
    names: readonly string[],
    rec: Omit<ImageRecord, 'name' | 'createdAt' | 'updatedAt'>,
  ): { replaced: Digest[] } {
    return this.db.transaction(() => {
      const replaced: Digest[] = [];
      for (const n of names) {
        const r = this.setName(n, rec).replaced;
        if (r !== undefined && !replaced.includes(r)) replaced.push(r);
      }
      return { replaced };
    })();
  }

  /**
   * Removes one name. With `keepDangling`, the image keeps a dangling row when this was its last
   * name (it is still used by a container). Returns whether the image lost its last row.
   */
  removeName(name: string, keepDangling: boolean): { gone: boolean } {
    return this.db.transaction(() => {
      const old = this.get(name);
      if (!old) return { gone: false };
      this.db.prepare('DELETE FROM images WHERE name = ?').run(name);
      if (this.byConfig(old.configDigest).length > 0) return { gone: false };
      if (keepDangling && !isDanglingName(name)) {
        this.setName(undefined, old);
        return { gone: false };
      }
      return { gone: true };
    })();
  }
}

function recParams(r: ImageRecord) {
  return {
    name: r.configDigest,
    mt: r.target.mediaType,
    digest: r.target.digest,
    size: r.target.size,
    manifest: r.manifestDigest,
    config: r.configDigest,
    platform: r.platform,
  };
}

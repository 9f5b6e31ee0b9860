/**
 * Container records in the `containers` table of brig.db (migration 1): the request in `spec`
 * (JSON ContainerSpec), what brigd knows of the last run in `status` (JSON ContainerStatus).
 * Each method is one statement or one transaction.
 */
import { BrigError } from '../errors/errors.ts';
import type { DB } from '../metadata/db.ts';
import type { Container, ContainerState, ContainerStatus } from './container.ts';

interface Row {
  id: string;
  name: string;
  image: string;
  image_id: string;
  state: string;
  created_at: number;
  spec: string;
  status: string;
  labels: string;
}

function fromRow(r: Row): Container {
  return {
    id: r.id,
    name: r.name,
    image: r.image,
    imageId: r.image_id,
    state: r.state as ContainerState,
    createdAt: r.created_at,
    spec: JSON.parse(r.spec),
    status: JSON.parse(r.status),
    labels: JSON.parse(r.labels),
  };
}

export class ContainerStore {
  constructor(private readonly db: DB) {}

  insert(c: Container): void {
    try {
      this.db
        .prepare(
          'INSERT INTO containers (id, name, image, image_id, state, created_at, spec, status, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          c.id,
          c.name,
          c.image,
          c.imageId,
          c.state,
          c.createdAt,
          JSON.stringify(c.spec),
          JSON.stringify(c.status),
          JSON.stringify(c.labels),
        );
    } catch (e) {
      if (/UNIQUE constraint failed: containers.name/.test((e as Error).message)) {
        throw new BrigError('ERR_CONTAINER_NAME_IN_USE', `the name ${c.name} is already in use`);
      }
      throw e;
    }
  }

  get(id: string): Container | undefined {
    const r = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  /** By full id, unique id prefix, or name. */
  find(ref: string): Container {
    let r = this.db.prepare('SELECT * FROM containers WHERE id = ? OR name = ?').get(ref, ref) as
      | Row
      | undefined;
    if (!r && /^[0-9a-f]{1,64}$/.test(ref)) {
      const rows = this.db
        .prepare("SELECT * FROM containers WHERE id LIKE ? || '%' LIMIT 2")
        .all(ref) as Row[];
      if (rows.length > 1) {
        throw new BrigError('ERR_INVALID_ARGUMENT', `more than one container id starts with ${ref}`);
      }
      r = rows[0];
    }
    if (!r) throw new BrigError('ERR_CONTAINER_NOT_FOUND', `no container ${ref}`);
    return fromRow(r);
  }

  list(): Container[] {
    return (this.db.prepare('SELECT * FROM containers ORDER BY created_at DESC').all() as Row[]).map(fromRow);
  }

  nameTaken(name: string): boolean {
    return this.db.prepare('SELECT 1 FROM containers WHERE name = ?').get(name) !== undefined;
  }

  update(id: string, state: ContainerState, status: ContainerStatus): void {
    this.db
      .prepare('UPDATE containers SET state = ?, status = ? WHERE id = ?')
      .run(state, JSON.stringify(status), id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  }

  /** Containers using an image (by config digest). */
  usingImage(imageId: string): string[] {
    return (
      this.db.prepare('SELECT id FROM containers WHERE image_id = ?').all(imageId) as Array<{ id: string }>
    ).map((r) => r.id);
  }
}

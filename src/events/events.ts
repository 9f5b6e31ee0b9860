/**
 * The event log: every change of state brigd makes (image imported, container died, privilege
 * granted by override, ...) is one event, persisted in brig.db and pushed to live subscribers
 * (`GET /events?follow=1`, `brig events`). `seq` is a monotonically increasing cursor.
 * Attributes are strings and must never hold credentials.
 */
import type { DB } from '../metadata/db.ts';

export type EventType =
  | 'image'
  | 'container'
  | 'volume'
  | 'daemon'
  | 'policy'
  | 'devfs'
  | 'registry'
  | 'network';

export interface BrigEvent {
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
  type: EventType;
  action: string;
  actorId: string;
  attributes: Record<string, string>;
}

export interface EventFilter {
  /** Only events with seq greater than this. */
  afterSeq?: number;
  /** Only events at or after this time (ms). */
  since?: number;
  /** Only events at or before this time (ms). */
  until?: number;
  type?: EventType[];
  action?: string[];
  actorId?: string[];
}

export function matches(e: BrigEvent, f: EventFilter): boolean {
  if (f.afterSeq !== undefined && e.seq <= f.afterSeq) return false;
  if (f.since !== undefined && e.time < f.since) return false;
  if (f.until !== undefined && e.time > f.until) return false;
  if (f.type?.length && !f.type.includes(e.type)) return false;
  if (f.action?.length && !f.action.includes(e.action)) return false;
  if (f.actorId?.length && !f.actorId.some((a) => e.actorId === a || e.attributes.name === a)) return false;
  return true;
}

export class EventLog {
  readonly #db: DB;
  readonly #subscribers = new Set<(e: BrigEvent) => void>();
  readonly #retain: number;
  #sinceTrim = 0;

  constructor(db: DB, opts: { retain?: number } = {}) {
    this.#db = db;
    this.#retain = opts.retain ?? 10_000;
  }

  emit(type: EventType, action: string, actorId: string, attributes: Record<string, string> = {}): BrigEvent {
    const time = Date.now();
    const info = this.#db
      .prepare('INSERT INTO events (time, type, action, actor_id, attributes) VALUES (?, ?, ?, ?, ?)')
      .run(time, type, action, actorId, JSON.stringify(attributes));
    const e: BrigEvent = { seq: Number(info.lastInsertRowid), time, type, action, actorId, attributes };
    if (++this.#sinceTrim >= 1000) this.#trim();
    for (const s of this.#subscribers) {
      try {
        s(e);
      } catch {
        // a broken subscriber must not break the emitter
      }
    }
    return e;
  }

  list(f: EventFilter = {}, limit = 10_000): BrigEvent[] {
    const rows = this.#db
      .prepare(
        `SELECT seq, time, type, action, actor_id AS actorId, attributes FROM events
         WHERE seq > ? AND time >= ? AND time <= ? ORDER BY seq LIMIT ?`,
      )
      .all(f.afterSeq ?? 0, f.since ?? 0, f.until ?? Number.MAX_SAFE_INTEGER, limit) as Array<
      Omit<BrigEvent, 'attributes'> & { attributes: string }
    >;
    return rows.map((r) => ({ ...r, attributes: JSON.parse(r.attributes) })).filter((e) => matches(e, f));
  }

  subscribe(fn: (e: BrigEvent) => void): () => void {
    this.#subscribers.add(fn);
    return () => this.#subscribers.delete(fn);
  }

  #trim(): void {
    this.#sinceTrim = 0;
    this.#db.prepare('DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - ?').run(this.#retain);
  }
}

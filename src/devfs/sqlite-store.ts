/**
 * The RulesetStore of ./allocator.ts over brig.db (migration 1):
 *
 *   devfs_rulesets(number PK, hash UNIQUE, rules TEXT, created_at)   one row per ruleset in use;
 *                                                                    `rules` is the canonical form
 *                                                                    (one rule per line)
 *   devfs_users(number -> devfs_rulesets ON DELETE CASCADE, container_id)
 *
 * save() replaces an entry's user rows in one transaction, so the database never holds a ruleset
 * with half of its users; remove() deletes the ruleset and (by cascade) its users.
 */
import type { DB } from '../metadata/db.ts';
import type { RulesetEntry, RulesetStore } from './allocator.ts';

export class SqliteRulesetStore implements RulesetStore {
  readonly #db: DB;

  constructor(db: DB) {
    this.#db = db;
  }

  load(): RulesetEntry[] {
    const sets = this.#db
      .prepare('SELECT number, hash, rules FROM devfs_rulesets ORDER BY number')
      .all() as Array<{ number: number; hash: string; rules: string }>;
    const users = this.#db
      .prepare('SELECT number, container_id FROM devfs_users ORDER BY container_id')
      .all() as Array<{ number: number; container_id: string }>;
    const by = new Map<number, string[]>();
    for (const u of users) {
      const l = by.get(u.number) ?? [];
      l.push(u.container_id);
      by.set(u.number, l);
    }
    return sets.map((s) => ({
      number: s.number,
      hash: s.hash,
      rules: s.rules === '' ? [] : s.rules.split('\n'),
      users: by.get(s.number) ?? [],
    }));
  }

  save(entry: RulesetEntry): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO devfs_rulesets (number, hash, rules, created_at) VALUES (?, ?, ?, ?)
           ON CONFLICT(number) DO UPDATE SET hash = excluded.hash, rules = excluded.rules`,
        )
        .run(entry.number, entry.hash, entry.rules.join('\n'), Date.now());
      this.#db.prepare('DELETE FROM devfs_users WHERE number = ?').run(entry.number);
      const add = this.#db.prepare('INSERT INTO devfs_users (number, container_id) VALUES (?, ?)');
      for (const u of entry.users) add.run(entry.number, u);
    })();
  }

  remove(number: number): void {
    this.#db.prepare('DELETE FROM devfs_rulesets WHERE number = ?').run(number);
  }
}

/**
 * brig.db: the daemon's SQLite state (better-sqlite3, WAL). Only brigd opens it; the CLI never
 * does. Schema changes are numbered migrations (./migrations.ts) recorded in `PRAGMA user_version`.
 */
import Database from 'better-sqlite3';
import { BrigError } from '../errors/errors.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type DB = Database.Database;

export function openDatabase(path: string, migrations: readonly Migration[] = MIGRATIONS): DB {
  let db: DB;
  try {
    db = new Database(path);
  } catch (e) {
    throw new BrigError('ERR_DB', `cannot open state database ${path}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, migrations);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

export function schemaVersion(db: DB): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function migrate(db: DB, migrations: readonly Migration[]): void {
  const current = schemaVersion(db);
  const latest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  if (current > latest) {
    throw new BrigError(
      'ERR_DB_MIGRATION',
      `state database schema is version ${current}; this brigd knows up to ${latest}`,
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
}

/** JSON column helpers: parse what we wrote, tolerate nothing else. */
export function jsonCol<T>(s: string): T {
  return JSON.parse(s) as T;
}

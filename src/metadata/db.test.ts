import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { openDatabase, schemaVersion } from './db.ts';
import { MIGRATIONS } from './migrations.ts';

test('a new database is in WAL mode at the latest schema version', (t) => {
  const db = openDatabase(join(tempDir(t), 'brig.db'));
  t.after(() => db.close());
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(schemaVersion(db), MIGRATIONS.at(-1)!.version);
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type='table'`).pluck().all();
  for (const name of ['images', 'containers', 'volumes', 'events', 'snapshots', 'leases']) {
    assert.ok(tables.includes(name), name);
  }
});

test('migrations apply in order and only once', (t) => {
  const path = join(tempDir(t), 'brig.db');
  const extra = [
    ...MIGRATIONS,
    { version: MIGRATIONS.length + 1, name: 'x', sql: 'CREATE TABLE x (a INTEGER);' },
  ];
  openDatabase(path).close();
  const db = openDatabase(path, extra);
  assert.equal(schemaVersion(db), extra.length);
  db.close();
  // reopening does not re-run migration N+1 (CREATE TABLE x would fail)
  openDatabase(path, extra).close();
});

test('a database newer than this brigd is refused', (t) => {
  const path = join(tempDir(t), 'brig.db');
  const extra = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'x', sql: 'SELECT 1;' }];
  openDatabase(path, extra).close();
  assert.throws(
    () => openDatabase(path),
    (e) => isBrigError(e, 'ERR_DB_MIGRATION'),
  );
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { openDatabase } from '../metadata/db.ts';
import { type BrigEvent, EventLog } from './events.ts';

test('events are persisted, ordered, filtered and pushed to subscribers', (t) => {
  const db = openDatabase(join(tempDir(t), 'brig.db'));
  t.after(() => db.close());
  const log = new EventLog(db);
  const seen: BrigEvent[] = [];
  const off = log.subscribe((e) => seen.push(e));
  const a = log.emit('image', 'import', 'sha256:aa', { name: 'busybox' });
  const b = log.emit('container', 'die', 'c1', { exitCode: '3' });
  off();
  log.emit('container', 'start', 'c1');
  assert.deepEqual(
    seen.map((e) => e.seq),
    [a.seq, b.seq],
  );
  assert.ok(b.seq > a.seq);
  assert.deepEqual(
    log.list().map((e) => e.action),
    ['import', 'die', 'start'],
  );
  assert.deepEqual(
    log.list({ type: ['container'] }).map((e) => e.action),
    ['die', 'start'],
  );
  assert.deepEqual(log.list({ afterSeq: a.seq, action: ['die'] })[0]!.attributes, { exitCode: '3' });
  assert.deepEqual(
    log.list({ actorId: ['busybox'] }).map((e) => e.seq),
    [a.seq],
  );
});

test('old events are trimmed beyond the retention', (t) => {
  const db = openDatabase(join(tempDir(t), 'brig.db'));
  t.after(() => db.close());
  const log = new EventLog(db, { retain: 10 });
  for (let i = 0; i < 1000; i++) log.emit('daemon', 'tick', String(i));
  const left = log.list();
  assert.equal(left.length, 10);
  assert.equal(left.at(-1)!.actorId, '999');
});

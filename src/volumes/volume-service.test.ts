import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { EventLog } from '../events/events.ts';
import { openDatabase } from '../metadata/db.ts';
import { VolumeService } from './volume-service.ts';

function setup(t: TestContext) {
  const root = tempDir(t, 'brig-vol-');
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const events = new EventLog(db, { retain: 1000 });
  return { root, db, events, v: new VolumeService(db, root, events) };
}

const code = (c: string) => (e: unknown) => isBrigError(e) && e.code === c;

test('create, inspect, list, remove', async (t) => {
  const { root, v, db } = setup(t);
  const a = v.create('data', { labels: { team: 'web' } });
  assert.equal(a.name, 'data');
  assert.equal(a.driver, 'local');
  assert.equal(a.anonymous, false);
  assert.equal(a.mountpoint, join(root, 'volumes', 'data', '_data'));
  assert.ok(statSync(a.mountpoint).isDirectory());
  assert.equal(statSync(a.mountpoint).mode & 0o777, 0o755);
  assert.deepEqual(a.labels, { team: 'web' });
  assert.deepEqual(a.usedBy, []);
  assert.deepEqual(v.inspect('data'), a);
  const anon = v.create(undefined);
  assert.match(anon.name, /^[0-9a-f]{64}$/);
  assert.equal(anon.anonymous, true);
  assert.deepEqual(
    v.list().map((x) => x.name),
    [anon.name, 'data'].sort(),
  );
  assert.deepEqual(
    v.list({ label: ['team=web'] }).map((x) => x.name),
    ['data'],
  );
  assert.deepEqual(
    v.list({ label: ['team'] }).map((x) => x.name),
    ['data'],
  );
  assert.deepEqual(v.list({ label: ['team=db'] }), []);
  assert.deepEqual(
    v.list({ name: 'dat' }).map((x) => x.name),
    ['data'],
  );
  writeFileSync(join(a.mountpoint, 'f'), Buffer.alloc(10000));
  assert.ok((await v.size('data')) >= 10000);
  await v.remove('data');
  assert.equal(existsSync(join(root, 'volumes', 'data')), false);
  assert.throws(() => v.inspect('data'), code('ERR_VOLUME_NOT_FOUND'));
  await assert.rejects(v.remove('data'), code('ERR_VOLUME_NOT_FOUND'));
  await v.remove('data', { force: true });
  const actions = (
    db.prepare("SELECT action, actor_id FROM events WHERE type = 'volume'").all() as {
      action: string;
      actor_id: string;
    }[]
  ).map((e) => `${e.action}:${e.actor_id}`);
  assert.deepEqual(actions, ['create:data', `create:${anon.name}`, 'destroy:data']);
});

test('names, drivers and options are validated; a taken name is refused', (t) => {
  const { v } = setup(t);
  v.create('x1');
  assert.throws(() => v.create('x1'), code('ERR_VOLUME_EXISTS'));
  for (const n of ['a', '.x', '-x', 'a/b', '..', 'a b', 'x'.repeat(256), '']) {
    assert.throws(() => v.create(n), code('ERR_INVALID_ARGUMENT'), n);
  }
  assert.throws(() => v.create('y1', { driver: 'nfs' }), code('ERR_INVALID_ARGUMENT'));
  assert.throws(() => v.create('y1', { options: { type: 'tmpfs' } }), code('ERR_INVALID_ARGUMENT'));
  assert.deepEqual(
    v.list().map((x) => x.name),
    ['x1'],
  );
});

test('a volume in use cannot be removed; release frees it', async (t) => {
  const { v } = setup(t);
  v.create('shared');
  v.acquire('shared', 'c1');
  v.acquire('shared', 'c1');
  v.acquire('shared', 'c2');
  assert.deepEqual(v.inspect('shared').usedBy, ['c1', 'c2']);
  assert.throws(() => v.acquire('nope', 'c1'), code('ERR_VOLUME_NOT_FOUND'));
  await assert.rejects(v.remove('shared'), code('ERR_VOLUME_IN_USE'));
  v.release('shared', 'c1');
  await assert.rejects(v.remove('shared'), code('ERR_VOLUME_IN_USE'));
  assert.deepEqual(v.list({ dangling: true }), []);
  await v.releaseContainer('c2');
  assert.deepEqual(
    v.list({ dangling: true }).map((x) => x.name),
    ['shared'],
  );
  await v.remove('shared');
});

test('prune: unused anonymous volumes; with all, every unused one', async (t) => {
  const { v } = setup(t);
  v.create('named');
  v.create('named-used');
  v.acquire('named-used', 'c');
  const anon = v.create(undefined);
  const anonUsed = v.create(undefined);
  v.acquire(anonUsed.name, 'c');
  writeFileSync(join(anon.mountpoint, 'f'), Buffer.alloc(8192));
  const r1 = await v.prune();
  assert.deepEqual(r1.removed, [anon.name]);
  assert.ok(r1.spaceReclaimed >= 8192);
  const r2 = await v.prune({ all: true });
  assert.deepEqual(r2.removed, ['named']);
  assert.deepEqual(
    v.list().map((x) => x.name),
    [anonUsed.name, 'named-used'].sort(),
  );
});

test('releaseContainer removes its anonymous volumes when asked, never shared or named ones', async (t) => {
  const { v } = setup(t);
  const mine = v.create(undefined);
  const shared = v.create(undefined);
  v.create('named');
  for (const n of [mine.name, shared.name, 'named']) v.acquire(n, 'c1');
  v.acquire(shared.name, 'c2');
  const removed = await v.releaseContainer('c1', { removeAnonymous: true });
  assert.deepEqual(removed, [mine.name]);
  assert.deepEqual(
    v.list().map((x) => x.name),
    [shared.name, 'named'].sort(),
  );
  assert.deepEqual(v.inspect(shared.name).usedBy, ['c2']);
});

test('ensure creates once; cleanup removes directories without a row; usage survives a reopen', async (t) => {
  const { root, v, db } = setup(t);
  assert.equal(v.ensure('e1').created, true);
  assert.equal(v.ensure('e1').created, false);
  v.acquire('e1', 'c');
  // what a crash between mkdir and INSERT (or DELETE and rm) leaves
  mkdirSync(join(root, 'volumes', 'orphan', '_data'), { recursive: true });
  const again = new VolumeService(db, root);
  assert.deepEqual((await again.cleanup()).removed, ['orphan']);
  assert.deepEqual(readdirSync(join(root, 'volumes')), ['e1']);
  assert.deepEqual(again.inspect('e1').usedBy, ['c']);
  // a new volume over an orphaned directory starts empty
  mkdirSync(join(root, 'volumes', 'stale', '_data'), { recursive: true });
  writeFileSync(join(root, 'volumes', 'stale', '_data', 'old'), 'x');
  assert.deepEqual(readdirSync(again.create('stale').mountpoint), []);
});

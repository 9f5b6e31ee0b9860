import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RWLock } from './rwlock.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('shared holders run together; an exclusive holder waits for them and runs alone', async () => {
  const lock = new RWLock();
  const log: string[] = [];
  let active = 0;
  let maxShared = 0;
  const shared = (n: string) =>
    lock.shared(async () => {
      active++;
      maxShared = Math.max(maxShared, active);
      log.push(`+${n}`);
      await tick();
      await tick();
      log.push(`-${n}`);
      active--;
    });
  const exclusive = (n: string) =>
    lock.exclusive(async () => {
      assert.equal(active, 0, `${n} runs alone`);
      log.push(`X${n}`);
      await tick();
    });
  await Promise.all([shared('a'), shared('b'), exclusive('1'), exclusive('2'), shared('c')]);
  assert.equal(maxShared, 2);
  assert.ok(log.indexOf('X1') > log.indexOf('-a') && log.indexOf('X1') > log.indexOf('-b'));
  assert.ok(log.indexOf('+c') > log.indexOf('X1'));
  assert.equal(log.filter((l) => l.startsWith('X')).length, 2);
});

test('a failing holder releases the lock', async () => {
  const lock = new RWLock();
  await assert.rejects(lock.exclusive(async () => Promise.reject(new Error('boom'))));
  await assert.rejects(lock.shared(async () => Promise.reject(new Error('boom'))));
  assert.equal(await lock.exclusive(async () => 1), 1);
  assert.equal(await lock.shared(async () => 2), 2);
});

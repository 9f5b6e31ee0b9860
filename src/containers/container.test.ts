import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type ContainerState,
  canExec,
  canKill,
  canRemove,
  canStart,
  canStop,
  exitReason,
  parseRestartPolicy,
  parseSize,
  restartDelay,
  shouldRestart,
  shownState,
} from './container.ts';
import { newContainerId, randomName, shortId, VALID_NAME } from './names.ts';

const STATES: ContainerState[] = ['created', 'running', 'exited', 'dead'];

describe('state guards', () => {
  test('every state', () => {
    assert.deepEqual(STATES.map(canStart), [true, false, true, false]);
    assert.deepEqual(STATES.map(canStop), [false, true, false, false]);
    assert.deepEqual(STATES.map(canKill), [false, true, false, false]);
    assert.deepEqual(STATES.map(canExec), [false, true, false, false]);
    assert.deepEqual(
      STATES.map((s) => canRemove(s, false)),
      [true, false, true, true],
    );
    assert.deepEqual(
      STATES.map((s) => canRemove(s, true)),
      [true, true, true, true],
    );
  });
});

test('shownState: restarting is an exited record with a restart pending, nothing else', () => {
  for (const state of STATES) {
    assert.equal(shownState({ state, status: { restartCount: 0 } }), state);
    assert.equal(
      shownState({ state, status: { restartCount: 2, restartAt: 1 } }),
      state === 'exited' ? 'restarting' : state,
    );
  }
});

describe('restart policies', () => {
  test('parse', () => {
    assert.deepEqual(parseRestartPolicy(undefined), { name: 'no', maxRetries: 0 });
    assert.deepEqual(parseRestartPolicy('on-failure:3'), { name: 'on-failure', maxRetries: 3 });
    assert.deepEqual(parseRestartPolicy('unless-stopped'), { name: 'unless-stopped', maxRetries: 0 });
    for (const bad of ['always:2', 'sometimes', 'on-failure:x', 'no:1'])
      assert.equal(parseRestartPolicy(bad), undefined);
  });

  test('shouldRestart', () => {
    const st = (exitCode: number, restartCount = 0, stoppedByUser = false) => ({
      exitCode,
      restartCount,
      stoppedByUser,
    });
    assert.equal(shouldRestart({ name: 'no', maxRetries: 0 }, st(1)), false);
    assert.equal(shouldRestart({ name: 'always', maxRetries: 0 }, st(0)), true);
    assert.equal(shouldRestart({ name: 'always', maxRetries: 0 }, st(0, 0, true)), false);
    assert.equal(shouldRestart({ name: 'unless-stopped', maxRetries: 0 }, st(0, 0, true)), false);
    assert.equal(shouldRestart({ name: 'on-failure', maxRetries: 0 }, st(0)), false);
    assert.equal(shouldRestart({ name: 'on-failure', maxRetries: 2 }, st(1, 1)), true);
    assert.equal(shouldRestart({ name: 'on-failure', maxRetries: 2 }, st(1, 2)), false);
  });

  test('back-off doubles from 100 ms and is capped at 60 s', () => {
    assert.deepEqual([0, 1, 2, 3].map(restartDelay), [100, 200, 400, 800]);
    fc.assert(
      fc.property(fc.nat(1000), (n) => restartDelay(n) <= 60_000 && restartDelay(n + 1) >= restartDelay(n)),
    );
  });
});

describe('values', () => {
  test('sizes', () => {
    assert.equal(parseSize('512m'), 512 * 1024 * 1024);
    assert.equal(parseSize('1g'), 1024 ** 3);
    assert.equal(parseSize('1.5k'), 1536);
    assert.equal(parseSize('100'), 100);
    assert.equal(parseSize('12x'), undefined);
  });

  test('exit reasons', () => {
    assert.equal(exitReason(0, false), 'exited');
    assert.equal(exitReason(137, false), 'signal');
    assert.equal(exitReason(137, true), 'oom-killed');
    assert.equal(exitReason(255, false), 'exited');
  });

  test('ids and names', () => {
    const id = newContainerId();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(shortId(id), id.slice(0, 12));
    const taken = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const n = randomName((x) => taken.has(x));
      assert.ok(!taken.has(n) && VALID_NAME.test(n));
      taken.add(n);
    }
  });
});

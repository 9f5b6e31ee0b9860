import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrigError } from '../../errors/errors.ts';
import { parseTail } from './logs.ts';

test('--tail: N lines; all, absent and negative numbers (docker -1) mean all', () => {
  assert.equal(parseTail('3'), 3);
  assert.equal(parseTail('0'), 0);
  assert.equal(parseTail(undefined), undefined);
  assert.equal(parseTail('all'), undefined);
  assert.equal(parseTail('-1'), undefined);
  assert.equal(parseTail('-20'), undefined);
});

test('--tail: anything else is ERR_INVALID_ARGUMENT', () => {
  for (const bad of ['x', '1.5', '', '1e3', '0x10', '--']) {
    assert.throws(
      () => parseTail(bad),
      (e: unknown) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
      bad,
    );
  }
});

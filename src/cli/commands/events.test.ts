import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrigError } from '../../errors/errors.ts';
import { toSeconds } from './events.ts';

test('--since/--until: Unix seconds, RFC 3339, durations; anything else is refused', () => {
  const now = Date.parse('2026-11-29T12:00:00Z');
  assert.equal(toSeconds(undefined, now), undefined);
  assert.equal(toSeconds('1700000000', now), 1700000000);
  assert.equal(toSeconds('1700000000.5', now), 1700000000.5);
  assert.equal(toSeconds('2026-11-29T11:00:00Z', now), now / 1000 - 3600);
  assert.equal(toSeconds('10m', now), now / 1000 - 600);
  assert.equal(toSeconds('2h', now), now / 1000 - 7200);
  for (const bad of ['yesterday', '10 minutes', '-5', '5d', '', 'Nov 29']) {
    assert.throws(
      () => toSeconds(bad, now),
      (e) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
      bad,
    );
  }
});

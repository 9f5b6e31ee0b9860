import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matches } from '../../events/events.ts';
import { parseFilters, parseTime } from './events.ts';

const imported = {
  seq: 1,
  time: 0,
  type: 'image' as const,
  action: 'import',
  actorId: `sha256:${'a'.repeat(64)}`,
  attributes: { name: 'docker.io/library/busybox:1' },
};

test('image= filters match the image id, the canonical name, or a name as users write it', () => {
  for (const v of [imported.actorId, 'docker.io/library/busybox:1', 'busybox:1']) {
    assert.ok(matches(imported, parseFilters([`image=${v}`])), v);
  }
  for (const v of ['busybox:2', 'busybox', 'other']) {
    assert.ok(!matches(imported, parseFilters([`image=${v}`])), v);
  }
  assert.ok(!matches(imported, parseFilters(['container=busybox:1'])));
});

test('times: Unix seconds and RFC 3339', () => {
  assert.equal(parseTime('1700000000', 'since'), 1700000000000);
  assert.equal(parseTime('2026-11-29T12:00:00Z', 'since'), Date.parse('2026-11-29T12:00:00Z'));
  assert.equal(parseTime(null, 'since'), undefined);
});

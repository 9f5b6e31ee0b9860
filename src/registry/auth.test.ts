import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basicHeader, parseChallenges } from './auth.ts';
import { retryAfterMs } from './transport.ts';

test('parseChallenges reads distribution and Docker Hub challenges', () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    ),
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/busybox:pull',
        },
      },
    ],
  );
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a, b", Bearer realm="https://t/x",service=s'), [
    { scheme: 'basic', params: { realm: 'a, b' } },
    { scheme: 'bearer', params: { realm: 'https://t/x', service: 's' } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm="q\\"uote"'), [
    { scheme: 'bearer', params: { realm: 'q"uote' } },
  ]);
  assert.deepEqual(parseChallenges(''), []);
  assert.deepEqual(parseChallenges('Negotiate'), [{ scheme: 'negotiate', params: {} }]);
});

test('basicHeader encodes user:password', () => {
  assert.equal(
    basicHeader({ username: 'a', password: 'b:c' }),
    `Basic ${Buffer.from('a:b:c').toString('base64')}`,
  );
});

test('retryAfterMs takes seconds or an HTTP date', () => {
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs(undefined), undefined);
  assert.equal(retryAfterMs('soon'), undefined);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
  assert.equal(retryAfterMs('Thu, 01 Jan 2025 00:00:05 GMT', now), 0);
});

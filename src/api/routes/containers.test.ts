import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Container } from '../../containers/container.ts';
import { isBrigError } from '../../errors/errors.ts';
import { createRequest, matches, parseLogLine, parseSince, view } from './containers.ts';

const c: Container = {
  id: 'abcdef'.padEnd(64, '0'),
  name: 'web',
  image: 'busybox',
  imageId: 'sha256:1',
  state: 'running',
  createdAt: 0,
  spec: {} as Container['spec'],
  status: { restartCount: 0, reason: 'signal' },
  labels: { tier: 'front', empty: '' },
};

describe('containers route helpers', () => {
  test('k8s-file lines', () => {
    assert.deepEqual(parseLogLine('2024-01-01T00:00:00.1+00:00 stdout F hello world'), {
      time: '2024-01-01T00:00:00.1+00:00',
      stream: 'stdout',
      partial: false,
      text: 'hello world',
    });
    assert.equal(parseLogLine('2024-01-01T00:00:00Z stderr P / # ')?.partial, true);
    assert.equal(parseLogLine('2024-01-01T00:00:00Z stderr P / # ')?.text, '/ # ');
    assert.equal(parseLogLine('2024-01-01T00:00:00Z stdout F')?.text, '');
    assert.equal(parseLogLine('garbage'), undefined);
  });

  test('--since', () => {
    assert.equal(parseSince('10s', 100_000), 90_000);
    assert.equal(parseSince('2m', 1_000_000), 880_000);
    assert.equal(parseSince('1700000000'), 1_700_000_000_000);
    assert.equal(parseSince('2024-01-01T00:00:00Z'), Date.parse('2024-01-01T00:00:00Z'));
    assert.throws(
      () => parseSince('yesterday'),
      (e) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
    );
  });

  test('ps filters', () => {
    assert.ok(
      matches(c, ['status=running', 'name=we', 'id=abc', 'label=tier=front', 'label=empty', 'reason=signal']),
    );
    assert.ok(!matches(c, ['status=exited']));
    assert.ok(!matches(c, ['label=tier=back']));
    assert.ok(!matches(c, ['label=missing']));
    // an exited container with a restart pending is `restarting` (docker's status filter)
    const waiting: Container = {
      ...c,
      spec: { restart: { name: 'always', maxRetries: 0 } } as Container['spec'],
      state: 'exited',
      status: { restartCount: 3, restartAt: 1, exitCode: 3 },
    };
    assert.ok(matches(waiting, ['status=restarting']));
    assert.ok(!matches(waiting, ['status=exited']));
    assert.equal(view(waiting).state, 'restarting');
    assert.ok(!matches({ ...waiting, status: { restartCount: 3 } }, ['status=restarting']));
    assert.throws(
      () => matches(c, ['colour=red']),
      (e) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
    );
  });

  test('create body validation', () => {
    const r = createRequest({ image: 'busybox', memory: '64m', restart: 'on-failure:2', command: ['true'] });
    assert.equal(r.memory, 64 * 1024 * 1024);
    assert.deepEqual(r.restart, { name: 'on-failure', maxRetries: 2 });
    assert.throws(
      () => createRequest({}),
      (e) => isBrigError(e, 'ERR_API_BODY'),
    );
    assert.throws(
      () => createRequest({ image: 'x', restart: 'often' }),
      (e) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
    );
    assert.throws(
      () => createRequest({ image: 'x', env: 'A=1' }),
      (e) => isBrigError(e, 'ERR_API_BODY'),
    );
    assert.throws(
      () => createRequest({ image: 'x', mounts: [{ kind: 'nfs', value: '' }] }),
      (e) => isBrigError(e, 'ERR_API_BODY'),
    );
  });

  test('create: --memory, --cpus lower bounds and --hostname (both platforms)', () => {
    const bad = (b: Record<string, unknown>) =>
      assert.throws(
        () => createRequest({ image: 'x', ...b }),
        (e) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
        JSON.stringify(b).slice(0, 80),
      );
    // --cpus 0.001 would be rctl pcpu:deny=0 (no CPU at all); --memory 1 a jail that cannot start
    for (const b of [{ cpus: 0.001 }, { cpus: 0.0049 }, { memory: 1 }, { memory: '1' }, { memory: '5m' }])
      bad(b);
    assert.equal(createRequest({ image: 'x', cpus: 0.01 }).cpus, 0.01);
    assert.equal(createRequest({ image: 'x', memory: '6m' }).memory, 6 * 1024 * 1024);
    for (const h of [
      'a'.repeat(300),
      `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(64)}`,
      'a'.repeat(64),
      '',
      'a..b',
      '-a',
      'a-',
      'a_b',
      'a b',
      'é',
      'a/b',
    ])
      bad({ hostname: h });
    for (const h of [
      'web',
      'web-1.example.org',
      '1a',
      'A',
      `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`,
    ])
      assert.equal(createRequest({ image: 'x', hostname: h }).hostname, h);
  });

  test('hostname: at most 64 bytes on Linux (HOST_NAME_MAX), 255 on FreeBSD', () => {
    const of = (n: number) => `${'a'.repeat(40)}.${'b'.repeat(n - 41)}`;
    assert.equal(createRequest({ image: 'x', hostname: of(64) }, 'linux').hostname, of(64));
    for (const h of [of(65), of(120)])
      assert.throws(
        () => createRequest({ image: 'x', hostname: h }, 'linux'),
        (e: unknown) => isBrigError(e, 'ERR_INVALID_ARGUMENT') && e.details?.field === 'hostname',
      );
    assert.equal(createRequest({ image: 'x', hostname: of(65) }, 'freebsd').hostname, of(65));
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`;
    assert.equal(createRequest({ image: 'x', hostname: long }, 'freebsd').hostname, long);
    assert.throws(
      () => createRequest({ image: 'x', hostname: `${long}.e` }, 'freebsd'),
      (e: unknown) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
    );
  });

  test('a JSON null is an absent field: no crash, no property set to undefined', () => {
    const fields = ['name', 'command', 'entrypoint', 'env', 'workdir', 'user', 'hostname', 'memory', 'cpus'];
    const r = createRequest({ image: 'x', ...Object.fromEntries(fields.map((f) => [f, null])) }, 'linux');
    for (const f of fields) assert.equal(f in r, false, f);
  });
});

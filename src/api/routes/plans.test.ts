import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isBrigError } from '../../errors/errors.ts';
import { parsePlanRequest } from './plans.ts';

const field = (name: string) => (e: unknown) =>
  isBrigError(e, 'ERR_INVALID_ARGUMENT') && e.details?.field === name;

describe('plan request: the checks of create', () => {
  test('hostname: at most 64 bytes on Linux, 255 on FreeBSD, valid labels', () => {
    const of = (n: number) => `${'a'.repeat(60)}.${'b'.repeat(n - 61)}`;
    assert.equal(parsePlanRequest({ image: 'x', hostname: of(64) }, 'linux').hostname, of(64));
    assert.throws(() => parsePlanRequest({ image: 'x', hostname: of(65) }, 'linux'), field('hostname'));
    assert.equal(parsePlanRequest({ image: 'x', hostname: of(65) }, 'freebsd').hostname, of(65));
    assert.throws(() => parsePlanRequest({ image: 'x', hostname: 'a_b' }, 'freebsd'), field('hostname'));
  });

  test('--memory and --cpus minimums; field types', () => {
    assert.throws(() => parsePlanRequest({ image: 'x', memory: 1024 }, 'linux'), field('memory'));
    assert.throws(() => parsePlanRequest({ image: 'x', cpus: 0.001 }, 'linux'), field('cpus'));
    assert.throws(
      () => parsePlanRequest({ image: 'x', command: 'sh' }, 'linux'),
      (e: unknown) => isBrigError(e, 'ERR_API_BODY'),
    );
    assert.throws(
      () => parsePlanRequest({}, 'linux'),
      (e: unknown) => isBrigError(e, 'ERR_API_BODY'),
    );
  });

  test('the fields a plan uses are kept; what it does not use is left out', () => {
    assert.deepEqual(
      parsePlanRequest(
        {
          image: 'x',
          command: ['sh'],
          env: ['A=1'],
          hostname: 'h',
          name: 'n',
          tty: true,
          readOnly: false,
          memory: 2 ** 26,
          pidsLimit: 10,
          restart: 'always',
          labels: { a: 'b' },
        },
        'linux',
      ),
      {
        image: 'x',
        command: ['sh'],
        env: ['A=1'],
        hostname: 'h',
        name: 'n',
        tty: true,
        memory: 2 ** 26,
        pidsLimit: 10,
      },
    );
  });
});

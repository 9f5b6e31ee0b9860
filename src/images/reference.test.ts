import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isBrigError } from '../errors/errors.ts';
import { familiarString, formatReference, normalizeReference, parseReference } from './reference.ts';

const D = `sha256:${'a'.repeat(64)}`;

test('normalisation follows docker: default domain, library/, latest', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['user/app', 'docker.io/user/app:latest'],
    ['example.org/a/b/c:v1', 'example.org/a/b/c:v1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:x', 'localhost:5000/app:x'],
    ['127.0.0.1:5000/app', '127.0.0.1:5000/app:latest'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['Registry/app', 'Registry/app:latest'],
    [`app@${D}`, `docker.io/library/app@${D}`],
    [`app:1@${D}`, `docker.io/library/app:1@${D}`],
    ['a_b__c-d--e9/g.h', 'docker.io/a_b__c-d--e9/g.h:latest'],
    ['localhost:5000', 'docker.io/library/localhost:5000'],
  ];
  for (const [input, want] of cases) assert.equal(normalizeReference(input), want, input);
});

test('parts are exposed', () => {
  assert.deepEqual(parseReference('example.org:443/x/y:1.0'), {
    domain: 'example.org:443',
    path: 'x/y',
    tag: '1.0',
  });
  assert.deepEqual(parseReference(`x@${D}`), { domain: 'docker.io', path: 'library/x', digest: D });
});

test('malformed references are refused with ERR_REFERENCE_INVALID', () => {
  const bad = [
    '',
    ' busybox',
    'Busybox',
    'busy box',
    'app:',
    'app:-x',
    `app:${'x'.repeat(129)}`,
    'app@sha256:abc',
    `app@sha512:${'a'.repeat(128)}`,
    'a//b',
    '/app',
    'app/',
    'a..b/c',
    '-a',
    'a-',
    'a___b',
    'ex_ample.org/app',
    'host:port/app',
    'a'.repeat(64),
    `example.org/${'a'.repeat(250)}`,
    ':tag',
    '@' + D,
  ];
  for (const b of bad)
    assert.throws(
      () => parseReference(b),
      (e) => isBrigError(e, 'ERR_REFERENCE_INVALID'),
      b,
    );
});

test('familiar form strips docker.io and library/', () => {
  assert.equal(familiarString(parseReference('busybox')), 'busybox:latest');
  assert.equal(familiarString(parseReference('user/app:1')), 'user/app:1');
  assert.equal(familiarString(parseReference('example.org/app')), 'example.org/app:latest');
});

test('property: canonical form is a fixed point and round-trips', () => {
  const comp = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)?$/);
  const arb = fc.record({
    domain: fc.constantFrom(
      'docker.io',
      'example.org',
      'localhost:5000',
      'reg.example.org:8443',
      '[::1]:5000',
    ),
    path: fc.array(comp, { minLength: 2, maxLength: 4 }).map((a) => a.join('/')),
    tag: fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/), { nil: undefined }),
  });
  fc.assert(
    fc.property(arb, (r) => {
      const s = formatReference(r.tag === undefined ? { domain: r.domain, path: r.path } : r);
      const n = normalizeReference(s);
      assert.equal(normalizeReference(n), n);
      const p = parseReference(n);
      assert.equal(p.domain, r.domain);
      assert.equal(p.path, r.path);
      assert.equal(p.tag, r.tag ?? 'latest');
    }),
  );
});

test('property: any string parses or fails with ERR_REFERENCE_INVALID', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom(...'aZ09:/@._-[] sha256'.split('')), maxLength: 40 }),
      (s) => {
        try {
          const r = parseReference(s);
          assert.equal(normalizeReference(formatReference(r)), formatReference(r));
        } catch (e) {
          assert.ok(isBrigError(e, 'ERR_REFERENCE_INVALID'), String(e));
        }
      },
    ),
  );
});

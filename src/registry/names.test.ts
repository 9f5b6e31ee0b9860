import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as v from 'valibot';
import { formatReference, parseReference } from '../images/reference.ts';
import { registriesSchema } from './config.ts';
import { referenceResolver, resolveReference } from './names.ts';

const comp = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)?$/);
// names as people write them: with or without a host, one or more components, tag and/or digest
const written = fc
  .record({
    host: fc.option(
      fc.constantFrom('docker.io', 'example.org', 'localhost', 'localhost:5000', '127.0.0.1:5000'),
      {
        nil: undefined,
      },
    ),
    path: fc.array(comp, { minLength: 1, maxLength: 3 }),
    tag: fc.option(fc.stringMatching(/^[\w][\w.-]{0,10}$/), { nil: undefined }),
    digest: fc.option(fc.constantFrom(`sha256:${'a'.repeat(64)}`), { nil: undefined }),
  })
  .map(
    (r) =>
      `${r.host ? `${r.host}/` : ''}${r.path.join('/')}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`,
  )
  .filter((s) => {
    try {
      parseReference(s);
      return true;
    } catch {
      return false;
    }
  });

test('with the defaults the resolver gives what docker rules give', () => {
  fc.assert(
    fc.property(written, (s) => {
      assert.deepEqual(resolveReference(s), parseReference(s));
      assert.deepEqual(referenceResolver(v.parse(registriesSchema, {}))(s), parseReference(s));
    }),
  );
});

test('a canonical name resolves to itself under any configuration', () => {
  const configs = fc.record({
    defaultRegistry: fc.constantFrom(
      'docker.io',
      'reg.example',
      'localhost',
      '127.0.0.1:5000',
      'Reg.Example:5000',
    ),
    officialNamespace: fc.constantFrom('library', '', 'official', 'a/b'),
  });
  fc.assert(
    fc.property(written, configs, (s, c) => {
      const r = resolveReference(s, c);
      assert.deepEqual(resolveReference(formatReference(r), c), r);
      assert.equal(r.domain, r.domain.toLowerCase());
    }),
  );
});

test('the official namespace applies to one-component docker.io names, with the host written or not', () => {
  const none = { officialNamespace: '' };
  assert.equal(formatReference(resolveReference('docker.io/app', none)), 'docker.io/app:latest');
  assert.equal(formatReference(resolveReference('app', none)), 'docker.io/app:latest');
  const ns = { officialNamespace: 'official' };
  assert.equal(formatReference(resolveReference('index.docker.io/app:1', ns)), 'docker.io/official/app:1');
  assert.equal(formatReference(resolveReference('team/app', ns)), 'docker.io/team/app:latest');
  // a one-component name on another default registry gets no namespace
  assert.equal(
    formatReference(resolveReference('app', { defaultRegistry: 'reg.example', ...ns })),
    'reg.example/app:latest',
  );
});

test('a default registry must read back as a host; a namespace must be a repository path', () => {
  for (const defaultRegistry of ['localhost', 'reg.example', '127.0.0.1:5000', '[::1]:5000']) {
    assert.equal(v.parse(registriesSchema, { defaultRegistry }).defaultRegistry, defaultRegistry);
  }
  for (const defaultRegistry of ['myregistry', '', 'https://reg.example', 'reg.example/path', 'a:b']) {
    assert.equal(v.safeParse(registriesSchema, { defaultRegistry }).success, false, defaultRegistry);
  }
  for (const officialNamespace of ['', 'library', 'a/b']) {
    assert.equal(v.safeParse(registriesSchema, { officialNamespace }).success, true, officialNamespace);
  }
  for (const officialNamespace of ['Library', '/x', 'a b', 'x/']) {
    assert.equal(v.safeParse(registriesSchema, { officialNamespace }).success, false, officialNamespace);
  }
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderErrorDocs } from '../../scripts/gen-error-docs.ts';

test('docs/errors.md is generated from the current catalogue', () => {
  const onDisk = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  assert.equal(onDisk, renderErrorDocs(), 'run: node --import tsx scripts/gen-error-docs.ts');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrigError, brigErrorFromJSON, CATALOGUE, fromErrno, isBrigError } from './errors.ts';

test('kind and default hint come from the catalogue', () => {
  const e = new BrigError('ERR_IMAGE_NOT_FOUND', 'no image foo');
  assert.equal(e.kind, 'not-found');
  assert.equal(e.hint, CATALOGUE.ERR_IMAGE_NOT_FOUND.hint);
  assert.ok(isBrigError(e, 'ERR_IMAGE_NOT_FOUND'));
  assert.ok(!isBrigError(e, 'ERR_INTERNAL'));
});

test('round trip through JSON keeps code, message and hint', () => {
  const e = new BrigError('ERR_LAYER_UNSAFE_PATH', 'entry ../x', { hint: 'h', details: { entry: '../x' } });
  const back = brigErrorFromJSON(JSON.parse(JSON.stringify(e)));
  assert.equal(back.code, 'ERR_LAYER_UNSAFE_PATH');
  assert.equal(back.message, 'entry ../x');
  assert.equal(back.hint, 'h');
  assert.deepEqual(back.details, { entry: '../x' });
  assert.equal(brigErrorFromJSON({ code: 'ERR_NO_SUCH_CODE', message: 'm' }).code, 'ERR_INTERNAL');
});

test('errno errors are translated', () => {
  const enoent = Object.assign(new Error('x'), { code: 'ENOENT' });
  assert.equal(fromErrno(enoent, '/a').code, 'ERR_NOT_FOUND');
  assert.equal(fromErrno(Object.assign(new Error('x'), { code: 'ENOSPC' }), '/a').code, 'ERR_NO_SPACE');
});

test('every catalogue entry has a known kind and a doc line', () => {
  const kinds = new Set([
    'invalid-argument',
    'not-found',
    'already-exists',
    'failed-precondition',
    'permission-denied',
    'conflict',
    'unavailable',
    'internal',
  ]);
  for (const [code, entry] of Object.entries(CATALOGUE)) {
    assert.match(code, /^ERR_[A-Z0-9_]+$/);
    assert.ok(kinds.has(entry.kind), code);
    assert.ok(entry.doc.length > 10, code);
  }
});

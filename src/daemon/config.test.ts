import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBrigError } from '../errors/errors.ts';
import { parseConfigText } from './config.ts';

test('an empty file gives every default', () => {
  const c = parseConfigText('', 'brig.yaml');
  assert.equal(c.socket.mode, 0o660);
  assert.equal(c.storage.driver, 'auto');
  assert.equal(c.runtime.name, 'auto');
  assert.equal(c.log.level, 'info');
  assert.deepEqual(parseConfigText('# only a comment\n', 'x'), c);
});

test('unknown keys are refused with their path', () => {
  assert.throws(
    () => parseConfigText('storage:\n  drvier: native\n', 'brig.yaml'),
    (e) => isBrigError(e, 'ERR_CONFIG_INVALID') && e.details?.key === 'storage.drvier',
  );
  assert.throws(
    () => parseConfigText('nope: 1\n', 'x'),
    (e) => isBrigError(e, 'ERR_CONFIG_INVALID') && e.details?.key === 'nope',
  );
});

test('wrong types are refused with the path, what was found and what was expected', () => {
  assert.throws(
    () => parseConfigText('storage:\n  driver: btrfs\n', 'brig.yaml'),
    (e) =>
      isBrigError(e, 'ERR_CONFIG_INVALID') &&
      e.details?.key === 'storage.driver' &&
      e.details?.found === '"btrfs"' &&
      /"overlay"/.test(String(e.details?.expected)),
  );
  assert.throws(
    () => parseConfigText('log: [1]\n', 'x'),
    (e) =>
      isBrigError(e, 'ERR_CONFIG_INVALID') &&
      e.details?.key === 'log' &&
      e.details?.found === 'Array' &&
      e.details?.expected === 'a mapping',
  );
  assert.throws(
    () => parseConfigText('events:\n  retain: "x"\n', 'x'),
    (e) =>
      isBrigError(e, 'ERR_CONFIG_INVALID') &&
      e.details?.key === 'events.retain' &&
      e.details?.found === '"x"' &&
      e.details?.expected === 'number',
  );
  assert.throws(
    () => parseConfigText('- a\n', 'x'),
    (e) => isBrigError(e, 'ERR_CONFIG_INVALID'),
  );
});

test('socket mode accepts octal strings', () => {
  assert.equal(parseConfigText('socket:\n  mode: "0600"\n', 'x').socket.mode, 0o600);
});

test('YAML syntax errors name the line', () => {
  assert.throws(
    () => parseConfigText('a: [\n', 'brig.yaml'),
    (e) => isBrigError(e, 'ERR_CONFIG_UNREADABLE'),
  );
  assert.throws(
    () => parseConfigText('a: 1\na: 2\n', 'brig.yaml'),
    (e) => isBrigError(e, 'ERR_CONFIG_UNREADABLE'),
  );
});

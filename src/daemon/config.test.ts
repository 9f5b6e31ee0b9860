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

/**
 * Asserts that `text` is refused with ERR_CONFIG_INVALID and these `details` (a string must be
 * equal, a RegExp must match).
 */
function refused(text: string, details: Record<string, string | RegExp> = {}): void {
  assert.throws(
    () => parseConfigText(text, 'brig.yaml'),
    (e) =>
      isBrigError(e, 'ERR_CONFIG_INVALID') &&
      Object.entries(details).every(([k, want]) =>
        typeof want === 'string' ? e.details?.[k] === want : want.test(String(e.details?.[k])),
      ),
  );
}

test('unknown keys are refused with their path', () => {
  refused('storage:\n  drvier: native\n', { key: 'storage.drvier' });
  refused('nope: 1\n', { key: 'nope' });
});

test('wrong types are refused with the path, what was found and what was expected', () => {
  refused('storage:\n  driver: btrfs\n', { key: 'storage.driver', found: '"btrfs"', expected: /"overlay"/ });
  refused('log: [1]\n', { key: 'log', found: 'Array', expected: 'a mapping' });
  refused('events:\n  retain: "x"\n', { key: 'events.retain', found: '"x"', expected: 'number' });
  refused('- a\n');
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

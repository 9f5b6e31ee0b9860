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
  refused('log: [1]\n', { key: 'log', found: 'a list', expected: 'a mapping' });
  refused('events:\n  retain: "x"\n', { key: 'events.retain', found: '"x"', expected: 'a number' });
  refused('- a\n');
});

test('what was expected is said in plain words, not as a validator message', () => {
  refused('events:\n  retain: 100.5\n', { key: 'events.retain', found: '100.5', expected: 'a whole number' });
  refused('events:\n  retain: 50\n', {
    key: 'events.retain',
    found: '50',
    expected: 'a number of at least 100',
  });
  refused('runtime:\n  seccomp: relative.json\n', {
    key: 'runtime.seccomp',
    found: '"relative.json"',
    expected: 'default, unconfined or an absolute path',
  });
  refused('log:\n  level: loud\n', { expected: 'one of "debug", "info", "warn" or "error"' });
  refused('socket:\n  group: true\n', { key: 'socket.group', expected: 'a string or a number' });
  refused('admin:\n  groups: [1]\n', { key: 'admin.groups.0', found: '1', expected: 'a string' });
  refused('storage:\n  drvier: native\n', { found: 'the key storage.drvier' });
  // no valibot phrasing leaks into the message
  for (const text of ['events:\n  retain: 100.5\n', 'log:\n  level: loud\n', 'socket:\n  mode: 0999\n']) {
    assert.throws(
      () => parseConfigText(text, 'brig.yaml'),
      (e) => isBrigError(e, 'ERR_CONFIG_INVALID') && !/Invalid |Received|Expected|\/\^/.test(e.message),
    );
  }
});

test('socket.mode is octal as written, quoted or not (YAML 1.2 would read 0660 as decimal 660)', () => {
  const mode = (text: string) => parseConfigText(`socket:\n  mode: ${text}\n`, 'x').socket.mode;
  for (const [text, want] of [
    ['0660', 0o660],
    ['600', 0o600],
    ['0600', 0o600],
    ['0o640', 0o640],
    ['"0660"', 0o660],
    ["'600'", 0o600],
    ['"0o644"', 0o644],
    ['0777', 0o777],
    ['0', 0],
  ] as const) {
    assert.equal(mode(text), want, text);
  }
  assert.equal(parseConfigText('socket: {mode: 0640}\n', 'x').socket.mode, 0o640);
  for (const bad of [
    '0999',
    '999999',
    '"0999"',
    '0x1b0',
    '1777',
    '"1777"',
    '6.6e2',
    '660.0',
    '-1',
    'true',
    '""',
    '[]',
  ]) {
    refused(`socket:\n  mode: ${bad}\n`, { key: 'socket.mode', expected: /octal/ });
  }
  // what was found is shown as written: unquoted stays unquoted
  refused('socket:\n  mode: 0999\n', { found: '0999' });
  refused('socket:\n  mode: "0999"\n', { found: '"0999"' });
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

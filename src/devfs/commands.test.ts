import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BrigError } from '../errors/errors.ts';
import {
  applyRulesetCommand,
  deleteRulesetCommands,
  loadRulesetCommands,
  parseShowsets,
  SHOWSETS_COMMAND,
} from './commands.ts';
import { compose, rulesetOf } from './compose.ts';

describe('devfs(8) commands', () => {
  test('load: delset, then one numbered add per rule, words unquoted', () => {
    const set = compose(
      ['include $devfsrules_hide_all'],
      ["path 'bpf*' unhide", 'path "tun*" unhide mode 660 group network'],
      ['path mem hide'],
    );
    assert.deepEqual(loadRulesetCommands(1000, set), [
      { cmd: 'devfs', args: ['rule', '-s', '1000', 'delset'] },
      { cmd: 'devfs', args: ['rule', '-s', '1000', 'add', '100', 'hide'] },
      { cmd: 'devfs', args: ['rule', '-s', '1000', 'add', '200', 'path', 'bpf*', 'unhide'] },
      {
        cmd: 'devfs',
        args: [
          'rule',
          '-s',
          '1000',
          'add',
          '300',
          'path',
          'tun*',
          'unhide',
          'group',
          'network',
          'mode',
          '0660',
        ],
      },
      { cmd: 'devfs', args: ['rule', '-s', '1000', 'add', '400', 'path', 'mem', 'hide'] },
    ]);
    assert.deepEqual(loadRulesetCommands(7, rulesetOf([])), [
      { cmd: 'devfs', args: ['rule', '-s', '7', 'delset'] },
    ]);
  });

  test('the default jail set expands to plain rules: no include reaches devfs(8)', () => {
    const cmds = loadRulesetCommands(1001, compose(['include $devfsrules_jail'], [], []));
    assert.equal(cmds.length, 1 + 48);
    assert.ok(cmds.every((c) => !c.args.includes('include')));
    assert.deepEqual(cmds.at(-1)!.args, ['rule', '-s', '1001', 'add', '4800', 'path', 'zfs', 'unhide']);
  });

  test('delete, apply, showsets', () => {
    assert.deepEqual(deleteRulesetCommands(1002), [{ cmd: 'devfs', args: ['rule', '-s', '1002', 'delset'] }]);
    assert.deepEqual(applyRulesetCommand('/var/db/brig/containers/x/rootfs/dev', 1002), {
      cmd: 'devfs',
      args: ['-m', '/var/db/brig/containers/x/rootfs/dev', 'rule', '-s', '1002', 'applyset'],
    });
    assert.deepEqual(SHOWSETS_COMMAND.args, ['rule', 'showsets']);
    assert.deepEqual(parseShowsets('1\n2\n3\n4\n5\n1001\n1000\n'), [1, 2, 3, 4, 5, 1000, 1001]);
    assert.deepEqual(parseShowsets(''), []);
    assert.throws(
      () => parseShowsets('1\nfoo\n'),
      (e: unknown) => e instanceof BrigError && e.code === 'ERR_COMMAND_FAILED',
    );
    for (const n of [0, 65536, 1.5])
      assert.throws(
        () => deleteRulesetCommands(n),
        (e: unknown) => e instanceof BrigError && e.code === 'ERR_INVALID_ARGUMENT',
      );
  });

  test('a ruleset too long for 16-bit rule numbers is refused', () => {
    const long = rulesetOf(Array.from({ length: 700 }, (_, i) => `path d${i} unhide`));
    assert.throws(
      () => loadRulesetCommands(1000, long),
      (e: unknown) => e instanceof BrigError && e.code === 'ERR_DEVFS_RULE_INVALID',
    );
  });
});

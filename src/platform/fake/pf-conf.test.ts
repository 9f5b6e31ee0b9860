import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PfSyntaxError, parsePfConf } from './pf-conf.ts';

describe('pf.conf checker', () => {
  test('accepts the rules a container engine writes', () => {
    const text = [
      'ext_if = "vtnet0"',
      'ct = "10.88.0.2"',
      'set skip on lo0',
      'scrub in all',
      'table <brig_containers> persist { 10.88.0.2, 10.88.0.3 }',
      'table <brig_empty> persist',
      'nat on $ext_if inet from 10.88.0.0/16 to any -> ($ext_if)',
      'nat pass on $ext_if from <brig_containers> to !10.88.0.0/16 -> ($ext_if:0) static-port',
      'rdr pass on $ext_if inet proto tcp from any to ($ext_if) port 8080 -> $ct port 80',
      'rdr on { vtnet0 bridge0 } proto { tcp udp } to any port 5300:5310 -> 10.88.0.4 port 53',
      'no rdr on lo0 from any to any',
      'rdr-anchor "brig/*"',
      'nat-anchor "brig/*"',
      'anchor "brig/*"',
      'block in log on $ext_if all',
      'block return in quick inet6 proto tcp from any to any port { 22, ssh, 2222 }',
      'pass in quick on bridge0 inet proto tcp from <brig_containers> to any port = 443 flags S/SA keep state (max 100)',
      'pass out quick inet6 from fd00::/64 to ! fd00::1 modulate state label "brig:c1"',
      'pass in proto tcp to 10.88.0.2 port 1000 >< 2000 no state',
      'match out on $ext_if from 10.88.0.0/16 tag BRIG',
      'load anchor "brig/c1" from "/var/db/brig/pf/c1.conf"',
    ].join('\n');
    const r = parsePfConf(text);
    assert.equal(r.rules.length, 17);
    assert.deepEqual(r.tables, { brig_containers: ['10.88.0.2', '10.88.0.3'], brig_empty: [] });
    assert.equal(r.rules[2], 'nat on vtnet0 inet from 10.88.0.0/16 to any -> (vtnet0)');
  });

  for (const [why, text, line, message] of [
    ['an unknown keyword', 'permit all', 1, 'syntax error'],
    ['port without a value', 'pass proto tcp to port', 1, 'syntax error'],
    ['an undefined macro', 'pass to $nowhere', 1, "macro 'nowhere' not defined"],
    [
      'translation after filtering',
      'pass all\nrdr on vtnet0 proto tcp to port 80 -> 10.0.0.2',
      2,
      'Rules must be in order: options, ethernet, normalization, queueing, translation, filtering',
    ],
    [
      'an option after a rule',
      'pass all\nset skip on lo0',
      2,
      'Rules must be in order: options, ethernet, normalization, queueing, translation, filtering',
    ],
    ['a bad address', 'pass from 10.0.0.300 to any', 1, 'syntax error'],
    ['a bad prefix', 'pass from 10.0.0.0/33 to any', 1, 'syntax error'],
    ['a port out of range', 'pass proto tcp to any port 70000', 1, 'syntax error'],
    ['an unknown service', 'pass proto tcp to any port gopherz', 1, 'syntax error'],
    ['an unknown protocol', 'pass proto tcpx to any', 1, 'syntax error'],
    ['rdr without ->', 'rdr on vtnet0 proto tcp to port 80', 1, 'syntax error'],
    ['-> in a filter rule', 'pass in proto tcp to port 80 -> 10.0.0.2', 1, 'syntax error'],
    ['an unknown filter option', 'pass all keep stats', 1, 'syntax error'],
    ['an unquoted anchor name', 'anchor brig', 1, 'syntax error'],
    ['an unterminated list', 'pass proto tcp to any port { 80 443', 1, 'syntax error'],
    ['a table with a bad address', 'table <t> { 10.0.0.1 nonsense }', 1, 'syntax error'],
    ['an unquoted macro value', 'x = vtnet0', 1, 'syntax error'],
  ] as const) {
    test(`refuses ${why}`, () => {
      assert.throws(
        () => parsePfConf(text),
        (e: unknown) => e instanceof PfSyntaxError && e.line === line && e.message === message,
      );
    });
  }

  test('continuation lines are joined and keep the first line number for errors after them', () => {
    const r = parsePfConf('pass in proto tcp \\\n  to any port 80\npass out all');
    assert.deepEqual(r.rules, ['pass in proto tcp to any port 80', 'pass out all']);
    assert.throws(
      () => parsePfConf('pass in \\\n all\nbogus'),
      (e: unknown) => e instanceof PfSyntaxError && e.line === 3,
    );
  });
});

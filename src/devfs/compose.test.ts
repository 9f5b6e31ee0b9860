import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BrigError } from '../errors/errors.ts';
import { compose, expandRules, rulesetOf } from './compose.ts';
import { BUILTIN_BY_NAME } from './defaults.ts';
import { type DeviceNode, evaluate, pathMatches } from './evaluate.ts';
import { formatRule } from './rules.ts';

const isCode = (code: string) => (e: unknown) => e instanceof BrigError && e.code === code;

describe('expandRules', () => {
  test('includes of the default rulesets are replaced by their rules, by name or number', () => {
    const jail = expandRules(['include $devfsrules_jail']).map(formatRule);
    const byParts = expandRules([
      ...BUILTIN_BY_NAME.get('devfsrules_hide_all')!.lines,
      ...BUILTIN_BY_NAME.get('devfsrules_unhide_basic')!.lines,
      ...BUILTIN_BY_NAME.get('devfsrules_unhide_login')!.lines,
      'path fuse unhide',
      'path zfs unhide',
    ]).map(formatRule);
    assert.deepEqual(jail, byParts);
    assert.equal(jail.length, 1 + 5 + 40 + 2);
    assert.deepEqual(expandRules(['include 4']).map(formatRule), jail);
    const vnet = expandRules(['include $devfsrules_jail_vnet']).map(formatRule);
    assert.deepEqual(vnet, [
      ...expandRules(['include 1', 'include 2', 'include 3']).map(formatRule),
      ...jail,
      'path pf unhide',
    ]);
  });

  test('rule numbers, other rulesets and includes with conditions are refused', () => {
    for (const bad of [
      'add 100 path x hide',
      'include 1000',
      'path x include 1',
      'include 1 hide',
      'add 5 include 1',
    ])
      assert.throws(() => expandRules([bad]), isCode('ERR_DEVFS_RULE_INVALID'), bad);
  });
});

describe('compose', () => {
  test('open, then the granted image rules, then close; one canonical line per rule', () => {
    const c = compose(['include $devfsrules_hide_all'], ["path 'bpf*' unhide"], ['path bpf0 hide']);
    assert.equal(c.canonical, "hide\npath 'bpf*' unhide\npath bpf0 hide");
    assert.match(c.hash, /^[0-9a-f]{64}$/);
    assert.equal(compose([], [], []).canonical, '');
  });

  test('the same rules give the same hash, however they are spelled; others do not', () => {
    const a = compose(['include 1', 'include 2'], ['path "tun*" unhide mode 660'], ['path mem hide']);
    const b = compose(
      ['add hide', ...BUILTIN_BY_NAME.get('devfsrules_unhide_basic')!.lines],
      ['  path tun\\* mode 0660 unhide'],
      ["path 'mem' hide"],
    );
    assert.equal(a.hash, b.hash);
    assert.equal(a.canonical, b.canonical);
    assert.notEqual(a.hash, compose(['include 1', 'include 2'], [], ['path mem hide']).hash);
    // Order matters: the same rules in another order are another ruleset.
    assert.notEqual(
      rulesetOf(['path a hide', 'path a unhide']).hash,
      rulesetOf(['path a unhide', 'path a hide']).hash,
    );
  });

  // Property: close rules always win, whatever the image asks.
  const names = [
    'null',
    'zero',
    'mem',
    'kmem',
    'fuse',
    'bpf0',
    'bpf1',
    'tun0',
    'pts/0',
    'pts/1',
    'sda',
    'sda1',
    'ttyv0',
  ];
  const inventory: DeviceNode[] = names.map((path, i) => ({
    path,
    type: path.startsWith('sd') ? 'b' : 'c',
    major:
      path === 'mem' || path === 'kmem' || path === 'null' || path === 'zero'
        ? 1
        : path.startsWith('pts')
          ? 136
          : 10 + i,
    minor: i,
    mode: 0o600,
    uid: 0,
    gid: 0,
  }));
  const pattern = fc.constantFrom(
    '*',
    'null',
    'mem',
    'kmem',
    'bpf*',
    'bpf[01]',
    'tun?',
    'pts',
    'pts/*',
    'sd*',
    'sda?',
    '*m*',
    'tty*',
  );
  const anyRule = fc
    .record(
      {
        type: fc.constantFrom('disk', 'mem', 'tty'),
        path: pattern,
        visibility: fc.constantFrom('hide', 'unhide'),
        mode: fc.integer({ min: 0, max: 0o777 }),
        user: fc.integer({ min: 0, max: 3 }),
      },
      { requiredKeys: ['visibility'] },
    )
    .map((r) => ({ ...r }));
  const closeRule = fc
    .record({
      path: pattern,
      visibility: fc.constantFrom('hide', 'unhide', undefined),
      mode: fc.option(fc.integer({ min: 0, max: 0o777 }), { nil: undefined }),
    })
    .filter((r) => r.visibility !== undefined || r.mode !== undefined)
    .map((r) => ({
      path: r.path,
      ...(r.visibility ? { visibility: r.visibility } : {}),
      ...(r.mode !== undefined ? { mode: r.mode } : {}),
    }));

  test('close rules always win (property)', () => {
    fc.assert(
      fc.property(
        fc.array(anyRule, { maxLength: 4 }),
        fc.array(anyRule, { maxLength: 8 }),
        fc.array(closeRule, { minLength: 1, maxLength: 4 }),
        (open, image, close) => {
          const visible = new Map(evaluate(compose(open, image, close), inventory).map((d) => [d.path, d]));
          const verdict = (path: string) => {
            let v: 'hide' | 'unhide' | undefined;
            for (const r of close) if (r.visibility && pathMatches(r.path, path)) v = r.visibility;
            return v;
          };
          for (const d of inventory) {
            const chain = [d.path, ...(d.path.includes('/') ? [d.path.split('/')[0]!] : [])];
            if (chain.some((p) => verdict(p) === 'hide'))
              assert.ok(!visible.has(d.path), `${d.path} must be hidden`);
            if (chain.every((p) => verdict(p) === 'unhide'))
              assert.ok(visible.has(d.path), `${d.path} must be visible`);
            let mode: number | undefined;
            for (const r of close) if (r.mode !== undefined && pathMatches(r.path, d.path)) mode = r.mode;
            if (mode !== undefined && visible.has(d.path)) assert.equal(visible.get(d.path)!.mode, mode);
          }
          // And the image cannot change what the close rules decide by adding rules.
          const without = evaluate(compose(open, [], close), inventory);
          for (const d of without) {
            if (verdict(d.path) === 'hide') assert.fail(`${d.path} visible despite a close hide`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

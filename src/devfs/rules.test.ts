import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BrigError } from '../errors/errors.ts';
import { BUILTIN_RULESETS } from './defaults.ts';
import { canonicalRule, type DevfsRule, formatRule, parseRule, ruleWords } from './rules.ts';

function refused(text: string): void {
  assert.throws(
    () => parseRule(text),
    (e: unknown) => e instanceof BrigError && e.code === 'ERR_DEVFS_RULE_INVALID' && e.details?.rule === text,
    text,
  );
}

describe('parseRule', () => {
  test('the forms of devfs(8) and devfs.rules(5)', () => {
    assert.deepEqual(parseRule("path 'bpf*' unhide"), { path: 'bpf*', visibility: 'unhide' });
    assert.deepEqual(parseRule('add path null unhide'), { path: 'null', visibility: 'unhide' });
    assert.deepEqual(parseRule('add 100 path "snp*" mode 660 group snoopers'), {
      number: 100,
      path: 'snp*',
      mode: 0o660,
      group: 'snoopers',
    });
    assert.deepEqual(parseRule('add 0 hide'), { visibility: 'hide' }); // 0: the kernel numbers it
    assert.deepEqual(parseRule('type disk hide'), { type: 'disk', visibility: 'hide' });
    assert.deepEqual(parseRule('path tty type tty user 0 group 4 mode 0620'), {
      path: 'tty',
      type: 'tty',
      user: 0,
      group: 4,
      mode: 0o620,
    });
    assert.deepEqual(parseRule('add include $devfsrules_hide_all'), { include: 1 });
    assert.deepEqual(parseRule('include "$devfsrules_jail"'), { include: 4 });
    assert.deepEqual(parseRule('include 4'), { include: 4 });
    assert.deepEqual(parseRule('include 1000'), { include: 1000 }); // parsed; compose() refuses it
    assert.deepEqual(parseRule('path pts\\/\\* unhide'), { path: 'pts/*', visibility: 'unhide' });
    assert.deepEqual(parseRule("\tpath  'it'\\''s'\t unhide  "), { path: "it's", visibility: 'unhide' });
    assert.deepEqual(parseRule('mode 7777 unhide'), { mode: 0o7777, visibility: 'unhide' });
  });

  test('every line of FreeBSD’s default rulesets parses', () => {
    for (const b of BUILTIN_RULESETS) for (const l of b.lines) assert.doesNotThrow(() => parseRule(l), l);
  });

  test('anything else is refused, naming the rule', () => {
    for (const bad of [
      '',
      'add',
      'add 100',
      'path x',
      'path',
      'path x hide unhide',
      'hide hide',
      'unhide path x',
      'hide type disk',
      'path x path y hide',
      'type disk type tty hide',
      'type cdrom hide',
      'major 53 group games',
      'path x mode u+rw',
      'path x mode 8',
      'path x mode 10000',
      'path x mode',
      'path x user',
      'path x user bad/name',
      'path x user 99999999999',
      'path x group $g',
      'include',
      'include $devfsrules_nope',
      'include 0',
      'include 65536',
      'include x',
      'include $devfsrules_jail include 1',
      'add 65536 path x hide',
      'path $x hide',
      'path /dev/bpf0 unhide',
      'path bpf/ unhide',
      'path a//b unhide',
      'path ./a unhide',
      'path a/../b unhide',
      "path '[[:digit:]]' unhide",
      "path 'a[/]b' unhide",
      `path '${'x'.repeat(200)}' unhide`,
      "path 'a b' unhide",
      "path 'a",
      'path "a',
      'path x unhide \\',
      'path x unhide # comment',
      'path x; unhide',
      'path x | unhide',
      'path `x` unhide',
      'path "`x`" unhide',
      'path $(x) unhide',
      'path x frob',
      'include "$devfsrules_jail"x',
      "include $devfsrules_jail'x'",
      'path ~root hide',
    ])
      refused(bad);
  });

  test('a pattern of 199 bytes is accepted (DEVFS_MAXPTRNLEN is 200 with the NUL)', () => {
    assert.equal(parseRule(`path ${'x'.repeat(199)} unhide`).path?.length, 199);
  });
});

describe('canonical form', () => {
  test('spellings of one rule print the same', () => {
    const forms = [
      "path 'bpf*' unhide",
      'add path "bpf*" unhide',
      'add 300 path bpf\\* unhide',
      '  path   bpf"*"   unhide ',
      "path b'p'f* unhide",
    ];
    for (const f of forms) assert.equal(canonicalRule(f), "path 'bpf*' unhide", f);
    assert.equal(
      canonicalRule(
        'mode 660 group operator path tun unhide'.replace(
          'mode 660 group operator path tun',
          'path tun mode 660 group operator',
        ),
      ),
      'path tun unhide group operator mode 0660',
    );
    assert.equal(canonicalRule('include 2'), 'include $devfsrules_unhide_basic');
    assert.equal(canonicalRule('path x mode 0 hide'), 'path x hide mode 0000');
  });

  const segment = fc
    .string({
      unit: fc.constantFrom('a', 'b', 'z', '0', '9', '-', '_', '.', '*', '?', '+', '@'),
      minLength: 1,
      maxLength: 6,
    })
    .filter((s) => s !== '.' && s !== '..');
  const rule: fc.Arbitrary<DevfsRule> = fc
    .record(
      {
        type: fc.constantFrom('disk', 'mem', 'tape', 'tty'),
        path: fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')),
        visibility: fc.constantFrom('hide', 'unhide'),
        user: fc.oneof(
          fc.integer({ min: 0, max: 65535 }),
          fc.constantFrom('root', 'www', '_dhcp', 'operator'),
        ),
        group: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constantFrom('wheel', 'tty', 'operator')),
        mode: fc.integer({ min: 0, max: 0o7777 }),
      },
      { requiredKeys: [] },
    )
    .filter(
      (r) =>
        r.visibility !== undefined || r.user !== undefined || r.group !== undefined || r.mode !== undefined,
    );

  /** Respell a word with random quoting. */
  const respell = (w: string, style: number): string => {
    switch (style % 4) {
      case 0:
        return /^[A-Za-z0-9_.,:+@%=/-]+$/.test(w) ? w : `'${w}'`;
      case 1:
        return `'${w}'`;
      case 2:
        return `"${w}"`;
      default:
        return [...w].map((c) => `\\${c}`).join('');
    }
  };

  test('canonical form is idempotent and insensitive to spacing, quoting, order and add/number', () => {
    fc.assert(
      fc.property(
        rule,
        fc.array(fc.nat(), { minLength: 20, maxLength: 20 }),
        fc.boolean(),
        fc.option(fc.integer({ min: 1, max: 65535 })),
        fc.boolean(),
        (r, styles, addWord, number, swap) => {
          const canonical = formatRule(r);
          assert.equal(canonicalRule(canonical), canonical);
          assert.deepEqual(parseRule(canonical), { ...r });
          // Rebuild the rule with other spellings: conditions and actions each in another order.
          const conds: string[][] = [];
          if (r.type !== undefined) conds.push(['type', r.type]);
          if (r.path !== undefined) conds.push(['path', r.path]);
          const acts: string[][] = [];
          if (r.visibility !== undefined) acts.push([r.visibility]);
          if (r.user !== undefined) acts.push(['user', String(r.user)]);
          if (r.group !== undefined) acts.push(['group', String(r.group)]);
          if (r.mode !== undefined) acts.push(['mode', r.mode.toString(8)]);
          if (swap) {
            conds.reverse();
            acts.reverse();
          }
          const ws = [...conds.flat(), ...acts.flat()].map((w, i) => respell(w, styles[i % styles.length]!));
          const head = [...(addWord ? ['add'] : []), ...(number !== null ? [String(number)] : [])];
          const spaces = styles.map((s) => (s % 3 === 0 ? '\t' : ' '.repeat(1 + (s % 3))));
          const text = [...head, ...ws].map((w, i) => w + spaces[i % spaces.length]).join('');
          assert.equal(canonicalRule(text), canonical, text);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('ruleWords gives the unquoted argument words devfs(8) receives', () => {
    assert.deepEqual(ruleWords(parseRule("path 'pts/*' unhide group tty mode 620")), [
      'path',
      'pts/*',
      'unhide',
      'group',
      'tty',
      'mode',
      '0620',
    ]);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { requires } from '../../test/support/require.ts';
import { BrigError } from '../errors/errors.ts';
import { compose } from './compose.ts';
import { type DeviceNode, evaluate, linuxDeviceType, pathMatches } from './evaluate.ts';
import { parseRule } from './rules.ts';

const c = (path: string, major: number, minor: number, mode = 0o666, uid = 0, gid = 0): DeviceNode => ({
  path,
  type: 'c',
  major,
  minor,
  mode,
  uid,
  gid,
});

// A small Linux /dev as a host would list it.
const HOST: DeviceNode[] = [
  c('null', 1, 3),
  c('zero', 1, 5),
  c('full', 1, 7),
  c('random', 1, 8),
  c('urandom', 1, 9),
  c('mem', 1, 1, 0o640, 0, 15),
  c('kmem', 1, 2, 0o640, 0, 15),
  c('port', 1, 4, 0o640, 0, 15),
  c('tty', 5, 0, 0o666, 0, 5),
  c('ptmx', 5, 2, 0o666, 0, 5),
  c('pts/0', 136, 0, 0o620, 1000, 5),
  c('pts/ptmx', 5, 2, 0o000),
  c('fuse', 10, 229),
  c('net/tun', 10, 200),
  c('kvm', 10, 232, 0o660, 0, 108),
  c('ttyS0', 4, 64, 0o660, 0, 20),
  c('st0', 9, 0, 0o660, 0, 6),
  { path: 'sda', type: 'b', major: 8, minor: 0, mode: 0o660, uid: 0, gid: 6 },
  { path: 'sda1', type: 'b', major: 8, minor: 1, mode: 0o660, uid: 0, gid: 6 },
];

const OPEN = [
  'include $devfsrules_hide_all',
  'include $devfsrules_unhide_basic',
  'include $devfsrules_unhide_login',
];
const CLOSE = ['path mem hide', 'path kmem hide', 'path io hide', 'path port hide'];
const paths = (ds: DeviceNode[]) => ds.map((d) => d.path);

describe('evaluate (Linux)', () => {
  test('the default host rules show the basic and login devices only', () => {
    const got = evaluate(compose(OPEN, [], CLOSE), HOST);
    // FreeBSD's login set unhides the legacy pty names 'ttyS*', which on Linux are serial ports
    // (policy's default open rules hide them again).
    assert.deepEqual(paths(got), ['null', 'ptmx', 'pts/0', 'pts/ptmx', 'random', 'ttyS0', 'urandom', 'zero']);
    const pts0 = got.find((d) => d.path === 'pts/0')!;
    assert.deepEqual(
      pts0,
      HOST.find((d) => d.path === 'pts/0'),
    );
  });

  test('a granted image rule shows its device; a close rule hides it even when the image asks', () => {
    assert.ok(paths(evaluate(compose(OPEN, ['path fuse unhide'], CLOSE), HOST)).includes('fuse'));
    assert.ok(!paths(evaluate(compose(OPEN, [], CLOSE), HOST)).includes('fuse'));
    assert.ok(
      !paths(evaluate(compose(OPEN, ['path fuse unhide'], [...CLOSE, 'path fuse hide']), HOST)).includes(
        'fuse',
      ),
    );
    assert.ok(!paths(evaluate(compose(OPEN, ['unhide'], CLOSE), HOST)).includes('mem'));
    assert.ok(paths(evaluate(compose(OPEN, ['unhide'], CLOSE), HOST)).includes('sda1'));
  });

  test('later rules override earlier ones: mode, user, group', () => {
    const got = evaluate(
      ['hide', 'path fuse unhide mode 0600 user 5', 'path fuse group 7', 'path f* mode 0640'],
      HOST,
    );
    assert.deepEqual(got, [{ ...HOST.find((d) => d.path === 'fuse')!, mode: 0o640, uid: 5, gid: 7 }]);
  });

  test('* does not cross "/": a hidden directory hides what is below it', () => {
    assert.deepEqual(paths(evaluate(['hide', 'path * unhide'], HOST)).includes('pts/0'), false);
    assert.deepEqual(paths(evaluate(['hide', "path 'pts/*' unhide"], HOST)), []); // pts itself is hidden
    assert.deepEqual(paths(evaluate(['hide', 'path pts unhide', "path 'pts/*' unhide"], HOST)), [
      'pts/0',
      'pts/ptmx',
    ]);
    assert.deepEqual(
      paths(evaluate(['path pts hide'], HOST)).filter((p) => p.startsWith('pts')),
      [],
    );
    assert.deepEqual(paths(evaluate(['hide', 'path net unhide', 'path net/tun unhide'], HOST)), ['net/tun']);
  });

  test('type matches Linux devices by class; directories never match a type', () => {
    assert.deepEqual(paths(evaluate(['hide', 'type disk unhide'], HOST)), ['sda', 'sda1']);
    assert.deepEqual(paths(evaluate(['hide', 'type mem unhide'], HOST)), [
      'full',
      'kmem',
      'mem',
      'null',
      'port',
      'random',
      'urandom',
      'zero',
    ]);
    assert.deepEqual(paths(evaluate(['hide', 'type tape unhide'], HOST)), ['st0']);
    assert.deepEqual(paths(evaluate(['hide', 'path pts unhide', 'type tty unhide'], HOST)), [
      'ptmx',
      'pts/0',
      'pts/ptmx',
      'tty',
      'ttyS0',
    ]);
    assert.deepEqual(paths(evaluate(['type tty hide'], HOST)).includes('pts/0'), false);
    assert.equal(linuxDeviceType({ type: 'c', major: 10 }), undefined);
  });

  test('user and group names resolve through the host tables; unknown names are refused', () => {
    const got = evaluate(['hide', 'path kvm unhide user root group kvm'], HOST, {
      users: { root: 0 },
      groups: { kvm: 108 },
    });
    assert.deepEqual(got, [{ ...HOST.find((d) => d.path === 'kvm')!, uid: 0, gid: 108 }]);
    assert.throws(
      () => evaluate(['path kvm unhide group kvm'], HOST),
      (e: unknown) => e instanceof BrigError && e.code === 'ERR_DEVFS_RULE_INVALID',
    );
  });

  test('inventory paths are relative to /dev', () => {
    for (const path of ['/dev/null', '', 'a//b', 'pts/', '../x'])
      assert.throws(
        () => evaluate(['hide'], [c(path, 1, 3)]),
        (e: unknown) => e instanceof BrigError && e.code === 'ERR_INVALID_ARGUMENT',
        path,
      );
  });

  test('raw rule lists are expanded like compose(); numbered rules are refused', () => {
    assert.deepEqual(
      evaluate(['include $devfsrules_jail'], HOST),
      evaluate(compose(['include 4'], [], []), HOST),
    );
    assert.throws(
      () => evaluate(['add 100 hide'], HOST),
      (e: unknown) => e instanceof BrigError && e.code === 'ERR_DEVFS_RULE_INVALID',
    );
  });
});

describe('path matching is fnmatch(3) with FNM_PATHNAME', () => {
  test('known cases', () => {
    const yes: [string, string][] = [
      ['bpf*', 'bpf'],
      ['bpf*', 'bpf0'],
      ['pts/*', 'pts/0'],
      ['tty[pqr]*', 'ttyq1'],
      ['tty[!pqr]*', 'ttyv1'],
      ['tty[^pqr]*', 'ttyv1'],
      ['a?c', 'abc'],
      ['\\*', '*'],
      ['[]a]', ']'],
      ['*', '.hidden'],
      ['!x', '!x'],
      ['a(b)', 'a(b)'],
      ['x{a,b}', 'x{a,b}'],
      ['[a', '[a'],
    ];
    const no: [string, string][] = [
      ['*', 'pts/0'],
      ['**', 'pts/0'],
      ['a?c', 'a/c'],
      ['tty[pqr]*', 'ttyv1'],
      ['!x', 'y'],
      ['x{a,b}', 'xa'],
      ['pts', 'pts/0'],
    ];
    for (const [p, s] of yes) assert.equal(pathMatches(p, s), true, `${p} ~ ${s}`);
    for (const [p, s] of no) assert.equal(pathMatches(p, s), false, `${p} !~ ${s}`);
  });

  // The C library's fnmatch(3) is the oracle: every pattern parseRule accepts must match device
  // paths exactly as fnmatch(pattern, path, FNM_PATHNAME) does.
  test(
    'agrees with the C library’s fnmatch on random patterns and device paths',
    requires({ commands: ['python3'] }),
    () => {
      // the characters of patterns and of device path segments, one by one
      const pchar = fc.constantFrom(...'adw0-./*?[]!^\\(+{,}@');
      const schar = fc.constantFrom(...'adw0-.!^[](+{*?\\');
      const segment = fc
        .string({ unit: schar, minLength: 1, maxLength: 4 })
        .filter((s) => s !== '.' && s !== '..');
      const devpath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
      const pattern = fc.string({ unit: pchar, minLength: 1, maxLength: 7 }).filter((p) => {
        try {
          parseRule(`path '${p.replace(/'/g, '')}' hide`);
          return !p.includes("'");
        } catch {
          return false;
        }
      });
      // Paths built from the pattern itself, so that matches are frequent.
      const near = (p: string, s: string) =>
        p
          .replace(/\*/g, s.slice(0, 2))
          .replace(/\?/g, s[0] ?? 'a')
          .replace(/\\(.)/g, '$1')
          .replace(/\[[^\]]*\]/g, 'a');
      const cases = fc.sample(
        fc
          .tuple(pattern, devpath)
          .chain(([p, s]) => fc.constantFrom<[string, string]>([p, s], [p, near(p, s) || s])),
        { numRuns: 6000, seed: 20261129 },
      );
      const paths = cases.filter(([, s]) =>
        s.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..'),
      );
      const py = [
        'import ctypes, json, sys',
        'libc = ctypes.CDLL(None)',
        'cases = json.load(sys.stdin)',
        'print(json.dumps([libc.fnmatch(p.encode(), s.encode(), 1) == 0 for p, s in cases]))',
      ].join('\n');
      const oracle = JSON.parse(
        execFileSync('python3', ['-c', py], { input: JSON.stringify(paths) }).toString(),
      ) as boolean[];
      let matches = 0;
      paths.forEach(([p, s], i) => {
        if (oracle[i]) matches++;
        assert.equal(pathMatches(p, s), oracle[i], `pattern ${JSON.stringify(p)} path ${JSON.stringify(s)}`);
      });
      assert.ok(matches > 200, `the sample must hold matches (${matches})`);
    },
  );
});

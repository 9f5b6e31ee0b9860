import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { simulatedHost } from '../../../test/support/fake-host.ts';
import { tempDir } from '../../../test/support/tmp.ts';

const setup = simulatedHost;

describe('devfs(8)', () => {
  test('the default rulesets of /etc/defaults/devfs.rules exist at boot', async () => {
    const { run } = setup();
    assert.deepEqual(await run('devfs', 'rule', 'showsets'), { code: 0, out: '1\n2\n3\n4\n5\n', err: '' });
    assert.equal(
      (await run('devfs', 'rule', '-s', '4', 'show')).out,
      '100 include 1\n200 include 2\n300 include 3\n400 path fuse unhide\n500 path zfs unhide\n',
    );
    assert.equal((await run('devfs', 'rule', '-s', '2', 'show', '300')).out, '300 path crypto unhide\n');
  });

  test('add numbers rules last+100, keeps explicit numbers, shows canonical specs', async () => {
    const { run } = setup();
    assert.equal((await run('devfs', 'rule', '-s', '1000', 'add', 'include', '4')).code, 0);
    assert.equal(
      (
        await run(
          'devfs',
          'rule',
          '-s',
          '1000',
          'add',
          'path',
          'bpf*',
          'unhide',
          'mode',
          '0660',
          'group',
          '5',
        )
      ).code,
      0,
    );
    assert.equal((await run('devfs', 'rule', '-s', '1000', 'add', '150', 'type', 'disk', 'hide')).code, 0);
    assert.equal((await run('devfs', 'rule', '-s', '1000', 'add', 'path', 'mem', 'hide')).code, 0);
    assert.equal(
      (await run('devfs', 'rule', '-s', '1000', 'show')).out,
      '100 include 4\n150 type disk hide\n200 path bpf* unhide group operator mode 660\n300 path mem hide\n',
    );
    assert.equal((await run('devfs', 'rule', 'showsets')).out, '1\n2\n3\n4\n5\n1000\n');
  });

  for (const [why, args, err] of [
    [
      'ruleset 0 cannot be modified',
      ['rule', '-s', '0', 'add', 'hide'],
      'devfs rule: ioctl DEVFSIO_RADD: Invalid argument\n',
    ],
    [
      'include of a ruleset that does not exist',
      ['rule', '-s', '1000', 'add', 'include', '999'],
      'devfs rule: ioctl DEVFSIO_RADD: No such process\n',
    ],
    [
      'include of itself',
      ['rule', '-s', '4', 'add', 'include', '4'],
      'devfs rule: ioctl DEVFSIO_RADD: Invalid argument\n',
    ],
    [
      'duplicate rule number',
      ['rule', '-s', '4', 'add', '100', 'hide'],
      'devfs rule: ioctl DEVFSIO_RADD: File exists\n',
    ],
    [
      'a $name, which only rc expands',
      ['rule', '-s', '1000', 'add', 'include', '$devfsrules_hide_all'],
      'devfs rule: error converting to number: $devfsrules_hide_all\n',
    ],
    [
      'unknown action',
      ['rule', '-s', '1000', 'add', 'path', 'x', 'show'],
      'devfs rule: unknown argument: show\n',
    ],
    ['unknown type', ['rule', '-s', '1000', 'add', 'type', 'net', 'hide'], 'devfs rule: unknown type: net\n'],
    [
      'missing path pattern',
      ['rule', '-s', '1000', 'add', 'path'],
      'devfs rule: expecting argument for path\n',
    ],
    ['bad mode', ['rule', '-s', '1000', 'add', 'path', 'x', 'mode', 'rw'], 'devfs rule: invalid mode: rw\n'],
    [
      'ruleset number too large',
      ['rule', '-s', '70000', 'add', 'hide'],
      'devfs rule: error converting to number: 70000\n',
    ],
    ['unknown rule command', ['rule', 'frob'], 'devfs rule: unknown command: frob\n'],
    ['unknown keyword', ['rules', 'show'], 'devfs: unknown command: rules\n'],
    ['no keyword', [], 'usage: devfs rule|ruleset arguments\n'],
    [
      'mount point that does not exist',
      ['-m', '/nowhere', 'rule', 'showsets'],
      'devfs: open: /nowhere: No such file or directory\n',
    ],
    [
      'mount point that is not devfs',
      ['-m', '/', 'rule', 'showsets'],
      'devfs rule: ioctl DEVFSIO_SGETNEXT: Inappropriate ioctl for device\n',
    ],
  ] as const) {
    test(`refuses: ${why}`, async () => {
      const { h, run } = setup();
      const before = h.state();
      assert.deepEqual(await run('devfs', ...args), { code: 1, out: '', err });
      assert.deepEqual(h.state(), before);
    });
  }

  test('add - reads rules from stdin without removing quotes, and keeps the lines before a bad one', async () => {
    const { run, input } = setup();
    const r = await input(
      "include 4\npath 'bpf*' unhide\npath tun* unhide\nfrobnicate\npath zz unhide\n",
      'devfs',
      'rule',
      '-s',
      '1000',
      'add',
      '-',
    );
    assert.deepEqual(r, { code: 1, out: '', err: 'devfs rule: unknown argument: frobnicate\n' });
    assert.equal(
      (await run('devfs', 'rule', '-s', '1000', 'show')).out,
      "100 include 4\n200 path 'bpf*' unhide\n300 path tun* unhide\n",
    );
  });

  test('del, delset; a ruleset referenced by a mount or an include survives delset', async () => {
    const { run } = setup();
    await run('devfs', 'rule', '-s', '1000', 'add', 'hide');
    await run('devfs', 'rule', '-s', '1000', 'add', 'path', 'null', 'unhide');
    assert.equal((await run('devfs', 'rule', '-s', '1000', 'del', '100')).code, 0);
    assert.deepEqual(await run('devfs', 'rule', '-s', '1000', 'del', '100'), {
      code: 1,
      out: '',
      err: 'devfs rule: ioctl DEVFSIO_RDEL: No such file or directory\n',
    });
    assert.equal((await run('devfs', 'rule', '-s', '1000', 'delset')).code, 0);
    assert.equal((await run('devfs', 'rule', 'showsets')).out, '1\n2\n3\n4\n5\n');
    await run('devfs', 'rule', '-s', '1001', 'add', 'hide');
    await run('devfs', 'rule', '-s', '1002', 'add', 'include', '1001');
    await run('devfs', 'rule', '-s', '1001', 'delset');
    assert.equal((await run('devfs', 'rule', 'showsets')).out, '1\n2\n3\n4\n5\n1001\n1002\n');
  });

  test('ruleset sets a mount’s ruleset; rule without -s works on it; applyset needs an existing set', async () => {
    const { h, run } = setup({ paths: ['/j/dev'] });
    await run('mount', '-t', 'devfs', 'devfs', '/j/dev');
    assert.equal((await run('devfs', '-m', '/j/dev', 'ruleset', '4')).code, 0);
    assert.equal((await run('devfs', '-m', '/j/dev', 'rule', 'show')).out.split('\n')[0], '100 include 1');
    assert.equal((await run('devfs', '-m', '/j/dev', 'rule', 'applyset')).code, 0);
    assert.deepEqual(await run('devfs', '-m', '/j/dev', 'rule', '-s', '77', 'applyset'), {
      code: 1,
      out: '',
      err: 'devfs rule: ioctl DEVFSIO_SAPPLY: No such process\n',
    });
    assert.deepEqual(h.visibleDevices('/j/dev').sort(), [
      'crypto',
      'fd',
      'fd/0',
      'fd/1',
      'fd/2',
      'fuse',
      'null',
      'ptmx',
      'pts',
      'pts/0',
      'random',
      'stderr',
      'stdin',
      'stdout',
      'urandom',
      'zero',
      'zfs',
    ]);
  });

  test('mounting with a ruleset that has no rules creates it empty: every device stays visible', async () => {
    const { h, run } = setup({ paths: ['/c/dev'] });
    await run('mount', '-t', 'devfs', '-o', 'ruleset=1234', 'devfs', '/c/dev');
    assert.equal((await run('devfs', 'rule', 'showsets')).out, '1\n2\n3\n4\n5\n1234\n');
    assert.ok(h.visibleDevices('/c/dev').includes('mem'));
    await run('umount', '/c/dev');
    assert.equal((await run('devfs', 'rule', 'showsets')).out, '1\n2\n3\n4\n5\n');
  });

  test('composed ruleset: open rules, granted image rules, close rules (close wins)', async () => {
    const { h, input, run } = setup({ paths: ['/c/dev'] });
    await input(
      'include 1\ninclude 2\ninclude 3\npath fuse unhide\npath tun* unhide\npath mem hide\npath tun0 hide\n',
      'devfs',
      'rule',
      '-s',
      '1000',
      'add',
      '-',
    );
    await run('mount', '-t', 'devfs', '-o', 'ruleset=1000', 'devfs', '/c/dev');
    const v = h.visibleDevices('/c/dev');
    assert.ok(v.includes('fuse'));
    assert.ok(!v.includes('tun0'));
    assert.ok(!v.includes('mem') && !v.includes('kmem') && !v.includes('bpf'));
    assert.ok(v.includes('null'));
  });
});

describe('mount(8), mount_nullfs(8), mount_unionfs(8), mount_nfs(8), umount(8)', () => {
  function dirs(t: Parameters<typeof tempDir>[0]) {
    const root = tempDir(t);
    for (const d of ['src', 'dst', 'rootfs/dev', 'rootfs/var', 'upper'])
      mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'file'), 'x');
    return root;
  }

  test('mounts are listed the way mount(8) prints them', async (t) => {
    const root = dirs(t);
    const { run } = setup({ nfsExports: ['nfs1:/export/roots'] });
    assert.equal(
      (await run('mount', '-t', 'nullfs', '-o', 'ro', join(root, 'src'), join(root, 'dst'))).code,
      0,
    );
    assert.equal(
      (await run('mount', '-t', 'devfs', '-o', 'ruleset=4', 'devfs', join(root, 'rootfs/dev'))).code,
      0,
    );
    assert.equal(
      (
        await run(
          'mount_unionfs',
          '-o',
          'below',
          '-o',
          'copymode=transparent',
          join(root, 'upper'),
          join(root, 'rootfs/var'),
        )
      ).code,
      0,
    );
    assert.equal(
      (await run('mount', '-t', 'tmpfs', '-o', 'size=64m,mode=1777', 'tmpfs', join(root, 'upper'))).code,
      0,
    );
    assert.equal(
      (await run('mount_nfs', '-o', 'ro,nfsv4', 'nfs1:/export/roots/app', join(root, 'src'))).code,
      0,
    );
    assert.equal(
      (await run('mount')).out,
      '/dev/vtbd0p2 on / (ufs, local, soft-updates)\n' +
        'devfs on /dev (devfs)\n' +
        `${root}/src on ${root}/dst (nullfs, local, read-only)\n` +
        `devfs on ${root}/rootfs/dev (devfs)\n` +
        `${root}/upper on ${root}/rootfs/var (unionfs, local)\n` +
        `tmpfs on ${root}/upper (tmpfs, local)\n` +
        `nfs1:/export/roots/app on ${root}/src (nfs, read-only)\n`,
    );
  });

  test('refusals, with the host unchanged', async (t) => {
    const root = dirs(t);
    const { h, run } = setup({ nfsExports: ['nfs1:/export'] });
    const before = h.state();
    const cases: [string[], string][] = [
      [
        ['mount_nullfs', join(root, 'nope'), join(root, 'dst')],
        `mount_nullfs: ${root}/nope: No such file or directory\n`,
      ],
      [
        ['mount_nullfs', join(root, 'src'), join(root, 'nope')],
        `mount_nullfs: ${root}/nope: No such file or directory\n`,
      ],
      [
        ['mount_nullfs', join(root, 'src'), join(root, 'file')],
        `mount_nullfs: ${root}/file: Not a directory\n`,
      ],
      [['mount_nullfs', root, join(root, 'dst')], `mount_nullfs: ${root}/dst: Resource deadlock avoided\n`],
      [
        ['mount_nullfs', '-o', 'bogus', join(root, 'src'), join(root, 'dst')],
        'mount_nullfs: -o bogus: option not supported\n',
      ],
      [
        ['mount_unionfs', '-o', 'copymode=magic', join(root, 'upper'), join(root, 'dst')],
        'mount_unionfs: Invalid copy mode: magic\n',
      ],
      [
        ['mount', '-t', 'devfs', '-o', 'ruleset=abc', 'devfs', join(root, 'dst')],
        'mount: devfs: Invalid argument\n',
      ],
      [
        ['mount', '-t', 'ext4', '/dev/sda1', join(root, 'dst')],
        'mount: exec mount_ext4 not found in /sbin, /usr/sbin: No such file or directory\n',
      ],
      [['mount_nfs', 'nfs1/export', join(root, 'dst')], 'mount_nfs: nfs1/export: hostname:path required\n'],
      [
        ['mount_nfs', 'nfs2:/export', join(root, 'dst')],
        'mount_nfs: nfs2: hostname nor servname provided, or not known\n',
      ],
      [
        ['mount_nfs', 'nfs1:/secret', join(root, 'dst')],
        "mount_nfs: can't access /secret: Permission denied\n",
      ],
      [
        ['mount_nfs', '-o', 'turbo', 'nfs1:/export', join(root, 'dst')],
        'mount_nfs: turbo: option not supported\n',
      ],
      [['umount', join(root, 'dst')], `umount: ${root}/dst: not a file system root directory\n`],
      [['umount', join(root, 'gone')], `umount: ${root}/gone: statfs: No such file or directory\n`],
    ];
    for (const [[cmd, ...args], err] of cases)
      assert.deepEqual(await run(cmd!, ...args), { code: 1, out: '', err }, [cmd, ...args].join(' '));
    assert.match((await run('mount_nullfs', join(root, 'src'))).err, /^usage: mount_nullfs/);
    assert.deepEqual(h.state(), before);
  });

  test('paths inside a nullfs mount resolve through its source', async (t) => {
    const root = dirs(t);
    const { run } = setup();
    await run('mount_nullfs', join(root, 'rootfs'), join(root, 'dst'));
    assert.equal((await run('mount', '-t', 'devfs', 'devfs', join(root, 'dst/dev'))).code, 0);
  });

  test('umount: busy while something is mounted beneath, even with -f; by source or target', async (t) => {
    const root = dirs(t);
    const { h, run } = setup();
    const before = h.state();
    await run('mount_nullfs', join(root, 'rootfs'), join(root, 'dst'));
    await run('mount', '-t', 'devfs', 'devfs', join(root, 'dst/dev'));
    for (const f of [[], ['-f']]) {
      assert.deepEqual(await run('umount', ...f, join(root, 'dst')), {
        code: 1,
        out: '',
        err: `umount: unmount of ${root}/dst failed: Device busy\n`,
      });
    }
    assert.equal((await run('umount', join(root, 'dst/dev'))).code, 0);
    assert.equal(
      (await run('umount', '-v', join(root, 'rootfs'))).out,
      `${root}/rootfs: unmount from ${root}/dst\n`,
    );
    assert.deepEqual(h.state(), before);
  });

  test('umount refuses the root of a jail with running processes unless forced', async (t) => {
    const root = dirs(t);
    const { h, run } = setup();
    await run('mount_nullfs', join(root, 'rootfs'), join(root, 'dst'));
    await run('jail', '-c', 'name=j', `path=${join(root, 'dst')}`, 'persist');
    // A process in the jail (as ocijail would leave one).
    const st = h.state();
    const file = join(root, 'host.json');
    h.save(file);
    const raw = JSON.parse((await import('node:fs')).readFileSync(file, 'utf8'));
    raw.processes['1234'] = { pid: 1234, jid: 1, argv: ['/bin/sleep'], state: 'running' };
    writeFileSync(file, JSON.stringify(raw));
    h.load(file);
    assert.notDeepEqual(h.state(), st);
    assert.equal((await run('umount', join(root, 'dst'))).code, 1);
    assert.equal((await run('umount', '-f', join(root, 'dst'))).code, 0);
  });
});

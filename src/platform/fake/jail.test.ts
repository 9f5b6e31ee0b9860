import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { simulatedHost } from '../../../test/support/fake-host.ts';

const setup = simulatedHost;

describe('jail(8)', () => {
  test('creates a jail with typed parameters and prints NAME: created', async () => {
    const { h, run } = setup();
    assert.deepEqual(
      await run(
        'jail',
        '-c',
        'name=web',
        'path=/tmp',
        'persist',
        'host.hostname=web.example',
        'allow.raw_sockets',
        'allow.nosysvipc',
        'children.max=3',
        'enforce_statfs=1',
        'securelevel=2',
        'devfs_ruleset=1000',
        'sysvmsg=new',
        'sysvshm=inherit',
      ),
      { code: 0, out: 'web: created\n', err: '' },
    );
    const j = h.state().jails['1']!;
    assert.equal(j.name, 'web');
    assert.equal(j.params.path, '/tmp');
    assert.equal(j.params.persist, true);
    assert.equal(j.params['allow.raw_sockets'], true);
    assert.equal(j.params['allow.sysvipc'], false);
    assert.equal(j.params['children.max'], 3);
    assert.equal(j.params.securelevel, 2);
    assert.equal(j.params.host, 'new');
    assert.equal(j.params.sysvmsg, 'new');
    assert.equal(j.params.sysvshm, 'inherit');
    assert.equal(j.params.sysvsem, 'disable');
    assert.equal(j.params.devfs_ruleset, 1000);
  });

  test('-i prints the jid, -q silences the note; jids are not reused', async () => {
    const { run } = setup();
    assert.deepEqual(await run('jail', '-i', '-q', '-c', 'name=a', 'path=/', 'persist'), {
      code: 0,
      out: '1\n',
      err: '',
    });
    assert.deepEqual(await run('jail', '-r', 'a'), { code: 0, out: 'a: removed\n', err: '' });
    assert.deepEqual(await run('jail', '-ic', 'name=b', 'path=/', 'persist'), {
      code: 0,
      out: '2\nb: created\n',
      err: '',
    });
  });

  for (const [why, args, err] of [
    [
      'unknown parameter',
      ['name=x', 'path=/', 'persist', 'allow.everything'],
      'jail: unknown parameter: allow.everything\n',
    ],
    ['bad integer', ['name=x', 'path=/', 'children.max=lots'], 'jail: children.max: invalid integer: lots\n'],
    ['bad boolean', ['name=x', 'path=/', 'persist=maybe'], 'jail: persist: unknown value "maybe"\n'],
    ['bad jailsys value', ['name=x', 'path=/', 'sysvshm=shared'], 'jail: sysvshm: unknown value "shared"\n'],
    [
      'enforce_statfs out of range',
      ['name=x', 'path=/', 'persist', 'enforce_statfs=3'],
      'jail: x: jail_set: Invalid argument\n',
    ],
    [
      // MAXHOSTNAMELEN (256 with its NUL) in kern_jail.c
      'host.hostname of 256 bytes',
      ['name=x', 'path=/', 'persist', `host.hostname=${'a'.repeat(256)}`],
      'jail: x: jail_set: File name too long\n',
    ],
    ['read-only parameter', ['name=x', 'path=/', 'dying'], 'jail: dying: read-only parameter\n'],
    [
      'missing path',
      ['name=x', 'path=/does/not/exist', 'persist'],
      'jail: x: path /does/not/exist: No such file or directory\n',
    ],
    [
      'bad address',
      ['name=x', 'path=/', 'persist', 'ip4.addr=10.0.0.300'],
      'jail: ip4.addr: not an IPv4 address: 10.0.0.300\n',
    ],
    [
      'numeric name',
      ['name=42', 'path=/', 'persist'],
      'jail: 42: name cannot be numeric (unless it is the jid)\n',
    ],
    ['vnet=disable', ['name=x', 'path=/', 'persist', 'vnet=disable'], 'jail: x: vnet cannot be disabled\n'],
    [
      'addresses on a vnet jail',
      ['name=x', 'path=/', 'persist', 'vnet', 'ip4.addr=10.0.0.1'],
      'jail: x: vnet jails cannot have IP address restrictions\n',
    ],
    [
      'command=',
      ['name=x', 'path=/', 'command=/bin/sh'],
      'jail: simulated host: command= is not simulated; jails run programs through ocijail\n',
    ],
  ] as const) {
    test(`refuses: ${why}`, async () => {
      const { h, run } = setup();
      const before = h.state();
      assert.deepEqual(await run('jail', '-c', ...args), { code: 1, out: '', err });
      assert.deepEqual(h.state(), before);
    });
  }

  test('usage errors: no mode, unknown flag, -r without a jail', async () => {
    const { run } = setup();
    for (const args of [['name=x'], ['-x', '-c', 'name=x'], ['-r']]) {
      const r = await run('jail', ...args);
      assert.equal(r.code, 1);
      assert.match(r.err, /usage: jail /);
    }
    assert.equal((await run('jail', '-x', '-c')).err.split('\n')[0], 'jail: illegal option -- x');
  });

  test('a second jail of the same name is refused; -m updates; -cm creates or updates', async () => {
    const { h, run } = setup();
    await run('jail', '-c', 'name=a', 'path=/', 'persist');
    assert.deepEqual(await run('jail', '-c', 'name=a', 'path=/', 'persist'), {
      code: 1,
      out: '',
      err: 'jail: a: jail "a" already exists\n',
    });
    assert.deepEqual(await run('jail', '-c', 'jid=1', 'name=b', 'path=/', 'persist'), {
      code: 1,
      out: '',
      err: 'jail: b: jail 1 already exists\n',
    });
    assert.deepEqual(await run('jail', '-m', 'name=a', 'children.max=4'), {
      code: 0,
      out: 'a: updated\n',
      err: '',
    });
    assert.equal(h.state().jails['1']!.params['children.max'], 4);
    assert.deepEqual(await run('jail', '-m', 'jid=1', 'path=/tmp'), {
      code: 1,
      out: '',
      err: 'jail: a: path cannot be changed after creation\n',
    });
    assert.deepEqual(await run('jail', '-m', 'name=zz', 'persist'), {
      code: 1,
      out: '',
      err: 'jail: "zz" not found\n',
    });
    assert.deepEqual(await run('jail', '-cm', 'name=zz', 'path=/', 'persist'), {
      code: 0,
      out: 'zz: created\n',
      err: '',
    });
  });

  test('a jail without persist and without processes dies at once', async () => {
    const { h, run } = setup();
    assert.deepEqual(await run('jail', '-c', 'name=a', 'path=/'), { code: 0, out: '', err: '' });
    assert.deepEqual(h.state().jails, {});
  });

  test('vnet jails get their own lo0; vnet.interface moves an interface in; removal returns it', async () => {
    const { h, run } = setup();
    await run('ifconfig', 'epair', 'create');
    assert.equal(
      (await run('jail', '-c', 'name=v', 'path=/', 'persist', 'vnet', 'vnet.interface=epair0b')).code,
      0,
    );
    assert.equal((await run('ifconfig', '-j', 'v', '-l')).out, 'lo0 epair0b\n');
    assert.equal((await run('ifconfig', '-l')).out, 'lo0 vtnet0 epair0a\n');
    assert.deepEqual(await run('jail', '-r', 'v'), { code: 0, out: 'v: removed\n', err: '' });
    assert.equal((await run('ifconfig', '-l')).out, 'lo0 vtnet0 epair0a epair0b\n');
    assert.equal(h.state().interfaces.filter((i) => i.name === 'lo0').length, 1);
  });

  test('mount.devfs mounts devfs at PATH/dev with the jail ruleset (4 by default)', async () => {
    const { h, run } = setup({ paths: ['/jails/a', '/jails/a/dev', '/jails/b', '/jails/b/dev'] });
    await run('jail', '-c', 'name=a', 'path=/jails/a', 'persist', 'mount.devfs');
    await run('jail', '-c', 'name=b', 'path=/jails/b', 'persist', 'mount.devfs', 'devfs_ruleset=5');
    assert.deepEqual(
      h
        .state()
        .mounts.filter((m) => m.fstype === 'devfs' && m.target !== '/dev')
        .map((m) => [m.target, m.ruleset]),
      [
        ['/jails/a/dev', 4],
        ['/jails/b/dev', 5],
      ],
    );
  });
});

describe('jls(8)', () => {
  async function twoJails() {
    const s = setup();
    await s.run(
      'jail',
      '-c',
      'name=web',
      'path=/tmp',
      'persist',
      'host.hostname=web.example',
      'ip4.addr=192.0.2.20,192.0.2.21',
    );
    await s.run('jail', '-c', 'name=db', 'path=/', 'persist', 'allow.sysvipc');
    return s;
  }

  test('default table', async () => {
    const { run } = await twoJails();
    assert.equal(
      (await run('jls')).out,
      '   JID  IP Address      Hostname                      Path\n' +
        '     1  192.0.2.20      web.example                   /tmp\n' +
        '     2                  freebsd-sim                   /\n',
    );
  });

  test('-n with named parameters: name=value, booleans as p / nop', async () => {
    const { run } = await twoJails();
    assert.deepEqual(
      await run(
        'jls',
        '-j',
        'web',
        '-n',
        'jid',
        'name',
        'persist',
        'allow.mount',
        'host.hostname',
        'ip4.addr',
      ),
      {
        code: 0,
        out: 'jid=1 name=web persist allow.nomount host.hostname=web.example ip4.addr=192.0.2.20,192.0.2.21\n',
        err: '',
      },
    );
    assert.equal(
      (await run('jls', '-j', '2', '-n', 'sysvmsg', 'allow.sysvipc')).out,
      'sysvmsg=inherit allow.sysvipc\n',
    );
  });

  test('-q quotes values with spaces, -h prints a header line', async () => {
    const { run } = setup();
    await run('jail', '-c', 'name=x', 'path=/', 'persist', 'host.hostname=a b');
    assert.equal((await run('jls', '-j', 'x', '-q', 'host.hostname')).out, '"a b"\n');
    assert.equal((await run('jls', '-h', 'jid', 'name')).out, 'jid name\n1 x\n');
  });

  test('--libxo json', async () => {
    const { run } = await twoJails();
    const r = await run('jls', '--libxo', 'json', '-j', 'web', 'jid', 'name', 'ip4.addr', 'persist');
    assert.equal(
      r.out,
      '{"__version": "2", "jail-information": {"jail": [{"jid":"1","name":"web","ip4.addr": ["192.0.2.20","192.0.2.21"],"persist":true}]}}\n',
    );
    const all = JSON.parse((await run('jls', '--libxo=json')).out);
    assert.deepEqual(all['jail-information'].jail, [
      { jid: 1, ipv4: '192.0.2.20', hostname: 'web.example', path: '/tmp' },
      { jid: 2, ipv4: '', hostname: 'freebsd-sim', path: '/' },
    ]);
  });

  test('unknown jail and unknown parameter', async () => {
    const { run } = setup();
    assert.deepEqual(await run('jls', '-j', 'nope'), {
      code: 1,
      out: '',
      err: 'jls: jail "nope" not found\n',
    });
    assert.deepEqual(await run('jls', 'bogus'), { code: 1, out: '', err: 'jls: unknown parameter: bogus\n' });
  });
});

describe('jexec(8)', () => {
  test('runs through the exec handler inside an existing jail', async () => {
    const seen: unknown[] = [];
    const { run } = setup({
      exec: (req: { jail?: string; argv: string[] }) => {
        seen.push(req);
        return { code: 3, stdout: 'hi\n' };
      },
    });
    await run('jail', '-c', 'name=a', 'path=/', 'persist');
    assert.deepEqual(await run('jexec', 'a', '/bin/echo', 'hi'), { code: 3, out: 'hi\n', err: '' });
    assert.deepEqual(seen, [{ jail: 'a', jid: 1, argv: ['/bin/echo', 'hi'] }]);
    assert.deepEqual(await run('jexec', 'b', 'true'), {
      code: 1,
      out: '',
      err: 'jexec: jail "b" not found\n',
    });
    assert.equal(
      (await run('jexec')).err,
      'usage: jexec [-l] [-u username | -U username] jail [command ...]\n',
    );
  });
});

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { simulatedHost } from '../../../test/support/fake-host.ts';
import { tempDir } from '../../../test/support/tmp.ts';

const setup = simulatedHost;

describe('ifconfig(8), epair(4), if_bridge(4)', () => {
  test('epair and bridge create print the new name; the lowest free unit is used', async () => {
    const { run } = setup();
    assert.deepEqual(await run('ifconfig', 'epair', 'create'), { code: 0, out: 'epair0a\n', err: '' });
    assert.deepEqual(await run('ifconfig', 'epair', 'create', 'up'), { code: 0, out: 'epair1a\n', err: '' });
    assert.deepEqual(await run('ifconfig', 'epair0a', 'destroy'), { code: 0, out: '', err: '' });
    assert.equal((await run('ifconfig', '-l')).out, 'lo0 vtnet0 epair1a epair1b\n');
    assert.deepEqual(await run('ifconfig', 'epair', 'create'), { code: 0, out: 'epair0a\n', err: '' });
    assert.deepEqual(await run('ifconfig', 'bridge', 'create'), { code: 0, out: 'bridge0\n', err: '' });
    assert.deepEqual(await run('ifconfig', 'bridge0', 'create'), {
      code: 1,
      out: '',
      err: 'ifconfig: SIOCIFCREATE2 (bridge0): File exists\n',
    });
    assert.deepEqual(await run('ifconfig', 'tun', 'create'), {
      code: 1,
      out: '',
      err: 'ifconfig: SIOCIFCREATE2 (tun): Invalid argument\n',
    });
  });

  test('addresses, up, show', async () => {
    const { run } = setup();
    await run('ifconfig', 'bridge', 'create');
    assert.equal((await run('ifconfig', 'bridge0', 'inet', '10.88.0.1/16', 'up')).code, 0);
    assert.equal((await run('ifconfig', 'bridge0', 'inet6', 'fd00::1', 'prefixlen', '64', 'alias')).code, 0);
    assert.equal((await run('ifconfig', 'bridge0', 'name', 'brig0')).out, 'brig0\n');
    assert.equal((await run('ifconfig', 'bridge0')).err, 'ifconfig: interface bridge0 does not exist\n');
    const show = (await run('ifconfig', 'brig0')).out;
    assert.match(show, /^brig0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n/);
    assert.match(show, /\tinet 10\.88\.0\.1 netmask 0xffff0000 broadcast 10\.88\.255\.255\n/);
    assert.match(show, /\tinet6 fd00::1 prefixlen 64\n/);
    assert.deepEqual(await run('ifconfig', 'brig0', 'inet', '10.88.0.1/16', 'alias'), {
      code: 1,
      out: '',
      err: 'ifconfig: ioctl (SIOCAIFADDR): File exists\n',
    });
    assert.deepEqual(await run('ifconfig', 'brig0', 'inet', '10.9.9.9', '-alias'), {
      code: 1,
      out: '',
      err: "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n",
    });
    assert.deepEqual(await run('ifconfig', 'brig0', 'inet', '10.88.0.300/16'), {
      code: 1,
      out: '',
      err: 'ifconfig: 10.88.0.300/16: bad value\n',
    });
    assert.deepEqual(await run('ifconfig', 'brig0', 'frobnicate'), {
      code: 1,
      out: '',
      err: 'ifconfig: frobnicate: bad value\n',
    });
    assert.equal((await run('ifconfig', 'brig0', 'inet', '10.88.0.1', 'delete')).code, 0);
    assert.doesNotMatch((await run('ifconfig', 'brig0')).out, /\tinet 10/);
  });

  test('bridge members: addm, deletem and their refusals', async () => {
    const { run } = setup();
    await run('ifconfig', 'epair', 'create');
    await run('ifconfig', 'bridge', 'create');
    await run('ifconfig', 'bridge', 'create');
    assert.equal((await run('ifconfig', 'bridge0', 'addm', 'epair0a', 'up')).code, 0);
    assert.match(
      (await run('ifconfig', 'bridge0')).out,
      /\tmember: epair0a flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>\n/,
    );
    assert.equal(
      (await run('ifconfig', 'bridge0', 'addm', 'epair0a')).err,
      'ifconfig: BRDGADD epair0a: File exists\n',
    );
    assert.equal(
      (await run('ifconfig', 'bridge1', 'addm', 'epair0a')).err,
      'ifconfig: BRDGADD epair0a: Device busy\n',
    );
    assert.equal(
      (await run('ifconfig', 'bridge0', 'addm', 'epair9a')).err,
      'ifconfig: BRDGADD epair9a: No such file or directory\n',
    );
    assert.equal(
      (await run('ifconfig', 'epair0b', 'addm', 'epair0a')).err,
      'ifconfig: BRDGADD epair0a: Invalid argument\n',
    );
    assert.equal(
      (await run('ifconfig', 'bridge0', 'deletem', 'epair0b')).err,
      'ifconfig: BRDGDEL epair0b: No such file or directory\n',
    );
    assert.equal((await run('ifconfig', 'bridge0', 'deletem', 'epair0a')).code, 0);
  });

  test('vnet moves: into a vnet jail only; the interface loses addresses and bridge membership; -vnet brings it back', async () => {
    const { h, run } = setup();
    await run('ifconfig', 'epair', 'create');
    await run('ifconfig', 'bridge', 'create');
    await run('ifconfig', 'bridge0', 'addm', 'epair0b');
    await run('ifconfig', 'epair0b', 'inet', '10.0.0.5/24');
    await run('jail', '-c', 'name=plain', 'path=/', 'persist');
    await run('jail', '-c', 'name=v', 'path=/', 'persist', 'vnet');
    assert.deepEqual(await run('ifconfig', 'epair0b', 'vnet', 'nope'), {
      code: 1,
      out: '',
      err: 'ifconfig: jail "nope" not found\n',
    });
    assert.deepEqual(await run('ifconfig', 'epair0b', 'vnet', 'plain'), {
      code: 1,
      out: '',
      err: 'ifconfig: ioctl SIOCSIFVNET: Invalid argument\n',
    });
    assert.deepEqual(await run('ifconfig', 'lo0', 'vnet', 'v'), {
      code: 1,
      out: '',
      err: 'ifconfig: ioctl SIOCSIFVNET: Operation not permitted\n',
    });
    assert.equal((await run('ifconfig', 'epair0b', 'vnet', 'v')).code, 0);
    const moved = h.state().interfaces.find((i) => i.name === 'epair0b')!;
    assert.deepEqual([moved.vnet, moved.inet, moved.up], [2, [], false]);
    assert.deepEqual(h.state().interfaces.find((i) => i.name === 'bridge0')!.members, []);
    assert.equal(
      (await run('ifconfig', 'epair0b', 'up')).err,
      'ifconfig: interface epair0b does not exist\n',
    );
    assert.equal((await run('ifconfig', '-j', 'v', 'epair0b', 'inet', '10.0.0.2/24', 'up')).code, 0);
    assert.equal((await run('ifconfig', '-j', 'v', 'lo0', 'inet', '127.0.0.1/8', 'up')).code, 0);
    assert.equal(
      (await run('ifconfig', '-j', 'plain', 'lo0', 'down')).err,
      'ifconfig: ioctl (SIOCSIFFLAGS): Operation not permitted\n',
    );
    assert.equal((await run('ifconfig', 'epair0b', '-vnet', 'v')).code, 0);
    assert.equal((await run('ifconfig', '-l')).out, 'lo0 vtnet0 epair0a bridge0 epair0b\n');
  });

  test('destroying one half of an epair destroys both, even inside a jail; lo0 and physical interfaces stay', async () => {
    const { run } = setup();
    await run('ifconfig', 'epair', 'create');
    await run('jail', '-c', 'name=v', 'path=/', 'persist', 'vnet', 'vnet.interface=epair0b');
    assert.equal((await run('ifconfig', 'epair0a', 'destroy')).code, 0);
    assert.equal((await run('ifconfig', '-j', 'v', '-l')).out, 'lo0\n');
    assert.equal(
      (await run('ifconfig', 'vtnet0', 'destroy')).err,
      'ifconfig: SIOCIFDESTROY: Invalid argument\n',
    );
  });
});

describe('pfctl(8)', () => {
  test('rules load into an anchor from stdin; -s rules, -s Anchors, -F rules', async () => {
    const { run, input } = setup();
    const rules =
      '# published ports\nct = "10.88.0.2"\nrdr pass on vtnet0 proto tcp to port 8080 -> $ct port 80\npass in quick proto tcp to $ct port 80 \\\n  keep state\n';
    assert.deepEqual(await input(rules, 'pfctl', '-a', 'brig/c1', '-f', '-'), { code: 0, out: '', err: '' });
    assert.equal(
      (await run('pfctl', '-a', 'brig/c1', '-s', 'rules')).out,
      'pass in quick proto tcp to 10.88.0.2 port 80 keep state\n',
    );
    assert.equal(
      (await run('pfctl', '-a', 'brig/c1', '-s', 'nat')).out,
      'rdr pass on vtnet0 proto tcp to port 8080 -> 10.88.0.2 port 80\n',
    );
    await input('pass all\n', 'pfctl', '-a', 'brig/c2', '-f', '-');
    assert.equal((await run('pfctl', '-a', 'brig', '-s', 'Anchors')).out, '  brig/c1\n  brig/c2\n');
    assert.deepEqual(await run('pfctl', '-a', 'brig/c1', '-F', 'all'), {
      code: 0,
      out: '',
      err: 'rules cleared\nnat cleared\n0 tables deleted.\n0 states cleared\n',
    });
    assert.equal((await run('pfctl', '-a', 'brig', '-s', 'Anchors')).out, '  brig/c2\n');
  });

  test('a syntax error loads nothing', async () => {
    const { h, input } = setup();
    await input('pass all\n', 'pfctl', '-a', 'brig/c1', '-f', '-');
    const before = h.state();
    assert.deepEqual(await input('pass all\npermit everything\n', 'pfctl', '-a', 'brig/c1', '-f', '-'), {
      code: 1,
      out: '',
      err: 'stdin:2: syntax error\npfctl: Syntax error in config file: pf rules not loaded\n',
    });
    assert.deepEqual(await input('pass to $undefined\n', 'pfctl', '-a', 'brig/c1', '-f', '-'), {
      code: 1,
      out: '',
      err: "stdin:1: macro 'undefined' not defined\nstdin:1: syntax error\npfctl: Syntax error in config file: pf rules not loaded\n",
    });
    assert.deepEqual(h.state(), before);
  });

  test('rules from a real file, and -n only checks', async (t) => {
    const file = join(tempDir(t), 'pf.conf');
    writeFileSync(file, 'block all\n');
    const { h, run } = setup();
    assert.equal((await run('pfctl', '-n', '-f', file)).code, 0);
    assert.deepEqual(h.state().pf.anchors, {});
    assert.equal((await run('pfctl', '-f', file)).code, 0);
    assert.deepEqual(h.state().pf.anchors[''], { rules: ['block all'], tables: {} });
    assert.equal(
      (await run('pfctl', '-f', `${file}.missing`)).err,
      `pfctl: ${file}.missing: No such file or directory\n`,
    );
  });

  test('tables: add creates, show, delete, flush, test; unknown commands and bad addresses', async () => {
    const { run } = setup();
    assert.deepEqual(
      await run('pfctl', '-a', 'brig', '-t', 'containers', '-T', 'add', '10.88.0.2', '10.88.0.3'),
      {
        code: 0,
        out: '',
        err: '1 table created.\n2/2 addresses added.\n',
      },
    );
    assert.equal(
      (await run('pfctl', '-a', 'brig', '-t', 'containers', '-T', 'add', '10.88.0.2')).err,
      '0/1 addresses added.\n',
    );
    assert.equal(
      (await run('pfctl', '-a', 'brig', '-t', 'containers', '-T', 'show')).out,
      '   10.88.0.2\n   10.88.0.3\n',
    );
    assert.equal((await run('pfctl', '-a', 'brig', '-t', 'containers', '-T', 'test', '10.88.0.9')).code, 2);
    assert.equal(
      (await run('pfctl', '-a', 'brig', '-t', 'containers', '-T', 'delete', '10.88.0.2')).err,
      '1/1 addresses deleted.\n',
    );
    assert.equal(
      (await run('pfctl', '-a', 'brig', '-t', 'containers', '-T', 'flush')).err,
      '1 addresses deleted.\n',
    );
    assert.deepEqual(await run('pfctl', '-a', 'brig', '-t', 'nope', '-T', 'show'), {
      code: 1,
      out: '',
      err: 'pfctl: Table does not exist.\n',
    });
    assert.equal(
      (await run('pfctl', '-a', 'brig', '-t', 'x', '-T', 'frob')).err,
      "pfctl: Unknown table command 'frob'\n",
    );
    assert.equal(
      (await run('pfctl', '-a', 'brig', '-t', 'x', '-T', 'add', 'not-an-ip')).err,
      'pfctl: cannot decode not-an-ip: hostname nor servname provided, or not known\n',
    );
  });

  test('enable and disable', async () => {
    const { run } = setup();
    assert.deepEqual(await run('pfctl', '-e'), { code: 0, out: '', err: 'pf enabled\n' });
    assert.deepEqual(await run('pfctl', '-e'), { code: 1, out: '', err: 'pfctl: pf already enabled\n' });
    assert.equal((await run('pfctl', '-s', 'info')).out, 'Status: Enabled\n');
    assert.deepEqual(await run('pfctl', '-d'), { code: 0, out: '', err: 'pf disabled\n' });
  });
});

describe('rctl(8)', () => {
  test('refused while kern.racct.enable is 0', async () => {
    const { run } = setup();
    assert.deepEqual(await run('rctl', '-a', 'jail:web:memoryuse:deny=512m'), {
      code: 1,
      out: '',
      err: 'rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable\n',
    });
  });

  test('add, list (-h), replace, several rules per resource, remove by filter', async () => {
    const { run } = setup({ sysctl: { 'kern.racct.enable': '1' } });
    assert.equal(
      (
        await run(
          'rctl',
          '-a',
          'jail:web:memoryuse:deny=512m',
          'jail:web:memoryuse:log=400m',
          'jail:web:pcpu:deny=150',
          'jail:web:maxproc:deny=100',
        )
      ).code,
      0,
    );
    assert.equal(
      (
        await run(
          'rctl',
          '-a',
          'jail:web:memoryuse:deny=1g',
          'jail:db:openfiles:deny=1024',
          'jail:web:readbps:throttle=1m',
        )
      ).code,
      0,
    );
    assert.equal(
      (await run('rctl')).out,
      'jail:web:memoryuse:log=419430400\njail:web:pcpu:deny=150\njail:web:maxproc:deny=100\njail:web:memoryuse:deny=1073741824\njail:db:openfiles:deny=1024\njail:web:readbps:throttle=1048576\n',
    );
    assert.equal(
      (await run('rctl', '-h', 'jail:web:memoryuse')).out,
      'jail:web:memoryuse:log=400M\njail:web:memoryuse:deny=1G\n',
    );
    assert.equal((await run('rctl', '-r', 'jail:web:memoryuse')).code, 0);
    assert.equal((await run('rctl', '-r', 'jail:web')).code, 0);
    assert.equal((await run('rctl')).out, 'jail:db:openfiles:deny=1024\n');
    assert.deepEqual(await run('rctl', '-r', 'jail:web'), {
      code: 1,
      out: '',
      err: "rctl: failed to remove rule 'jail:web': No such process\n",
    });
  });

  for (const rule of [
    'jail:web:memoryuse:deny',
    'jail:web:bogus:deny=1',
    'jail:web:memoryuse:explode=1',
    'host:web:memoryuse:deny=1',
    'jail:web:cputime:deny=10',
    'jail:web:memoryuse:throttle=1m',
    'jail:web:pcpu:deny=500',
    'jail::memoryuse:deny=1',
    'jail:web:memoryuse:deny=lots',
  ]) {
    test(`refuses ${rule}`, async () => {
      const { h, run } = setup({ sysctl: { 'kern.racct.enable': '1' } });
      const before = h.state();
      assert.deepEqual(await run('rctl', '-a', rule), {
        code: 1,
        out: '',
        err: `rctl: failed to add rule '${rule}': Invalid argument\n`,
      });
      assert.deepEqual(h.state(), before);
    });
  }

  test('-u reports usage of an existing jail', async () => {
    const { h, run } = setup({ sysctl: { 'kern.racct.enable': '1' } });
    assert.equal(
      (await run('rctl', '-u', 'jail:web')).err,
      "rctl: failed to show resource consumption for 'jail:web': No such process\n",
    );
    await run('jail', '-c', 'name=web', 'path=/', 'persist');
    h.setUsage('web', { memoryuse: 1048576, pcpu: 12 });
    const lines = (await run('rctl', '-u', 'jail:web')).out.split('\n');
    assert.equal(lines[0], 'cputime=0');
    assert.ok(lines.includes('memoryuse=1048576'));
    assert.ok(lines.includes('pcpu=12'));
    assert.ok((await run('rctl', '-hu', 'jail:web')).out.includes('memoryuse=1M\n'));
  });
});

describe('sysctl(8)', () => {
  test('read, write, tunables, unknown oids', async () => {
    const { run } = setup({ sysctl: { 'kern.racct.enable': '1' } });
    assert.deepEqual(await run('sysctl', '-n', 'kern.racct.enable', 'hw.ncpu'), {
      code: 0,
      out: '1\n2\n',
      err: '',
    });
    assert.deepEqual(await run('sysctl', 'kern.osrelease'), {
      code: 0,
      out: 'kern.osrelease: 14.1-RELEASE\n',
      err: '',
    });
    assert.deepEqual(await run('sysctl', 'net.inet.ip.forwarding=1'), {
      code: 0,
      out: 'net.inet.ip.forwarding: 0 -> 1\n',
      err: '',
    });
    assert.deepEqual(await run('sysctl', 'kern.racct.enable=0'), {
      code: 1,
      out: '',
      err: "sysctl: oid 'kern.racct.enable' is a read only tunable\nsysctl: Tunable values are set in /boot/loader.conf\n",
    });
    assert.deepEqual(await run('sysctl', 'kern.ostype=Linux'), {
      code: 1,
      out: '',
      err: "sysctl: oid 'kern.ostype' is read only\n",
    });
    assert.deepEqual(await run('sysctl', 'net.inet.ip.forwarding=yes'), {
      code: 1,
      out: '',
      err: "sysctl: invalid integer 'yes'\n",
    });
    assert.deepEqual(await run('sysctl', 'kern.nope'), {
      code: 1,
      out: '',
      err: "sysctl: unknown oid 'kern.nope'\n",
    });
    assert.deepEqual(await run('sysctl', '-i', 'kern.nope'), { code: 0, out: '', err: '' });
    assert.match((await run('sysctl', 'kern.features')).out, /^kern\.features\.racct: 1\n/);
    assert.deepEqual(await run('sysctl', '-n', 'security.jail.param.allow.mount.tmpfs'), {
      code: 0,
      out: '0\n',
      err: '',
    });
    assert.equal((await run('sysctl', '-n', 'security.jail.param.allow.mount.ext4')).code, 1);
  });
});

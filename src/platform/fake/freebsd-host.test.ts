import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { shellOf } from '../../../test/support/fake-host.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { isBrigError } from '../../errors/errors.ts';
import { SimulatedFreeBSDHost } from './index.ts';

const sh = (h: SimulatedFreeBSDHost) => shellOf(h).run;

describe('simulated host: commands', () => {
  test('tools answer by name or by their FreeBSD path, nothing else', async () => {
    const h = new SimulatedFreeBSDHost();
    assert.equal((await h.run('/sbin/sysctl', ['-n', 'kern.ostype'])).stdout.toString(), 'FreeBSD\n');
    assert.equal((await h.run('sysctl', ['-n', 'kern.ostype'])).stdout.toString(), 'FreeBSD\n');
    for (const cmd of ['/usr/bin/jail', '/bin/sh', 'ls', 'runc', '/usr/bin/conmon']) {
      await assert.rejects(h.run(cmd, []), (e: unknown) => isBrigError(e, 'ERR_COMMAND_NOT_FOUND'), cmd);
    }
  });

  test('check (the default) turns a non-zero exit into ERR_COMMAND_FAILED with the tool stderr', async () => {
    const h = new SimulatedFreeBSDHost();
    await assert.rejects(h.run('jail', ['-r', 'nosuch']), (e: unknown) => {
      assert.ok(isBrigError(e, 'ERR_COMMAND_FAILED'));
      assert.equal(e.details?.stderr, 'jail: "nosuch" not found');
      return true;
    });
    const r = await h.run('jail', ['-r', 'nosuch'], { check: false });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.toString(), 'jail: "nosuch" not found\n');
  });

  test('every command is logged with its stdin, in order', async () => {
    const h = new SimulatedFreeBSDHost();
    await h.run('sysctl', ['-n', 'hw.ncpu']);
    await h.run('pfctl', ['-a', 'brig/x', '-f', '-'], { input: 'pass all\n' });
    await h.run('jls', ['-j', 'nope'], { check: false });
    assert.deepEqual(h.log, [
      { cmd: 'sysctl', args: ['-n', 'hw.ncpu'] },
      { cmd: 'pfctl', args: ['-a', 'brig/x', '-f', '-'], stdin: 'pass all\n' },
      { cmd: 'jls', args: ['-j', 'nope'] },
    ]);
  });

  test('relative paths are relative to RunOptions.cwd', async (t) => {
    const dir = tempDir(t);
    const { mkdirSync, writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'pf.conf'), 'pass all\n');
    mkdirSync(join(dir, 'src'));
    mkdirSync(join(dir, 'dst'));
    const h = new SimulatedFreeBSDHost();
    assert.equal((await h.run('pfctl', ['-n', '-f', 'pf.conf'], { cwd: dir, check: false })).code, 0);
    assert.equal((await h.run('pfctl', ['-n', '-f', 'pf.conf'], { cwd: '/', check: false })).code, 1);
    assert.equal((await h.run('mount_nullfs', ['src', 'dst'], { cwd: dir, check: false })).code, 0);
  });

  test('a failing command leaves the host exactly as it was', async () => {
    const h = new SimulatedFreeBSDHost({ pools: ['zroot'] });
    const before = h.state();
    const run = sh(h);
    assert.equal((await run('zfs', 'create', 'zroot/a/b')).code, 1);
    assert.equal((await run('jail', '-c', 'name=x', 'path=/nonexistent/dir', 'persist')).code, 1);
    assert.equal((await run('ifconfig', 'bridge0', 'addm', 'epair0a')).code, 1);
    assert.equal((await run('rctl', '-a', 'jail:x:memoryuse:deny=1g')).code, 1);
    assert.deepEqual(h.state(), before);
  });
});

describe('simulated host: fault injection', () => {
  test('failNext fails the next matching command once, without running it', async () => {
    const h = new SimulatedFreeBSDHost();
    const run = sh(h);
    h.failNext(
      { cmd: 'ifconfig', args: ['epair', 'create'] },
      { code: 1, stderr: 'ifconfig: SIOCIFCREATE2: No space left on device\n' },
    );
    const before = h.state();
    assert.deepEqual(await run('ifconfig', 'bridge', 'create'), { code: 0, out: 'bridge0\n', err: '' });
    const afterBridge = h.state();
    assert.notDeepEqual(afterBridge, before);
    assert.deepEqual(await run('ifconfig', 'epair', 'create'), {
      code: 1,
      out: '',
      err: 'ifconfig: SIOCIFCREATE2: No space left on device\n',
    });
    assert.deepEqual(h.state(), afterBridge);
    assert.equal(h.log.at(-1)!.faulted, true);
    assert.deepEqual(await run('ifconfig', 'epair', 'create'), { code: 0, out: 'epair0a\n', err: '' });
  });

  test('failAlways matches by path, RegExp or predicate until cleared', async () => {
    const h = new SimulatedFreeBSDHost();
    h.failAlways({ cmd: '/sbin/devfs', args: ['rule', '-s', /^10\d\d$/] });
    for (const n of ['1000', '1001']) {
      const r = await h.run('devfs', ['rule', '-s', n, 'add', 'hide'], { check: false });
      assert.equal(r.code, 1);
      assert.equal(r.stderr.toString(), 'devfs: injected failure\n');
    }
    assert.equal((await h.run('devfs', ['rule', '-s', '900', 'add', 'hide'], { check: false })).code, 0);
    h.clearFaults();
    h.failAlways((cmd, args) => cmd === 'zfs' && args.includes('destroy'), { code: 2 });
    assert.equal((await h.run('zfs', ['destroy', 'x'], { check: false })).code, 2);
    h.clearFaults();
    assert.equal((await h.run('devfs', ['rule', '-s', '1000', 'add', 'hide'], { check: false })).code, 0);
  });

  test('a failure injected at every step of a setup, undone, leaves the host as it was', async () => {
    // A miniature of what the FreeBSD platform does: each step has an undo.
    const steps: { run: string[]; undo: string[] }[] = [
      {
        run: ['devfs', 'rule', '-s', '1000', 'add', 'include', '4'],
        undo: ['devfs', 'rule', '-s', '1000', 'delset'],
      },
      { run: ['ifconfig', 'epair', 'create'], undo: ['ifconfig', 'epair0a', 'destroy'] },
      { run: ['ifconfig', 'bridge', 'create'], undo: ['ifconfig', 'bridge0', 'destroy'] },
      {
        run: ['ifconfig', 'bridge0', 'addm', 'epair0a', 'up'],
        undo: ['ifconfig', 'bridge0', 'deletem', 'epair0a'],
      },
      { run: ['jail', '-c', 'name=c1', 'path=/', 'persist', 'vnet'], undo: ['jail', '-r', 'c1'] },
      { run: ['ifconfig', 'epair0b', 'vnet', 'c1'], undo: ['ifconfig', 'epair0b', '-vnet', 'c1'] },
      { run: ['rctl', '-a', 'jail:c1:memoryuse:deny=256m'], undo: ['rctl', '-r', 'jail:c1'] },
    ];
    for (let failAt = 0; failAt < steps.length; failAt++) {
      const h = new SimulatedFreeBSDHost({ sysctl: { 'kern.racct.enable': '1' } });
      const before = h.state();
      const [cmd, ...args] = steps[failAt]!.run as [string, ...string[]];
      h.failNext({ cmd, args });
      const done: string[][] = [];
      for (const s of steps) {
        const [c, ...a] = s.run as [string, ...string[]];
        const r = await h.run(c, a, { check: false });
        if (r.code !== 0) break;
        done.push(s.undo);
      }
      for (const u of done.reverse()) {
        const [c, ...a] = u as [string, ...string[]];
        await h.run(c, a);
      }
      assert.deepEqual(h.state(), before, `failure at step ${failAt}`);
    }
  });
});

describe('simulated host: state', () => {
  test('state() is a JSON-safe deep copy without allocation counters', async () => {
    const h = new SimulatedFreeBSDHost();
    const s = h.state();
    assert.equal('counters' in s, false);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
    s.jails.x = { jid: 9, name: 'x', params: {} };
    assert.deepEqual(h.state().jails, {});
  });

  test('save and load round-trip the whole host, counters included', async (t) => {
    const dir = tempDir(t);
    const h = new SimulatedFreeBSDHost({ pools: ['zroot'] });
    await h.run('jail', ['-c', 'name=a', 'path=/', 'persist']);
    await h.run('zfs', ['create', 'zroot/x']);
    h.save(join(dir, 'host.json'));
    const h2 = new SimulatedFreeBSDHost();
    h2.load(join(dir, 'host.json'));
    assert.deepEqual(h2.state(), h.state());
    await h2.run('jail', ['-c', 'name=b', 'path=/', 'persist']);
    assert.equal((await h2.run('jls', ['-j', 'b', 'jid'])).stdout.toString(), '2\n');
  });

  test('with a state file every mutating command persists it, and open() resumes it', async (t) => {
    const file = join(tempDir(t), 'sim', 'freebsd.json');
    const h = SimulatedFreeBSDHost.open({ stateFile: file, pools: ['zroot'] });
    assert.ok(existsSync(file));
    await h.run('devfs', ['rule', '-s', '1000', 'add', 'path', 'bpf*', 'unhide']);
    const onDisk = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(onDisk.devfsRulesets['1000'][0].spec, 'path bpf* unhide');
    const again = SimulatedFreeBSDHost.open({ stateFile: file, pools: ['other'] });
    assert.deepEqual(again.state(), h.state());
    assert.equal(
      (await again.run('devfs', ['rule', '-s', '1000', 'show'])).stdout.toString(),
      '100 path bpf* unhide\n',
    );
    assert.deepEqual(
      readFileSync(file, 'utf8').length > 0 && existsSync(`${file}.tmp-${process.pid}`),
      false,
      'no temporary file left behind',
    );
  });

  test('load refuses a file that is not a host state', async (t) => {
    const file = join(tempDir(t), 'x.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, '{"version": 7}');
    assert.throws(
      () => new SimulatedFreeBSDHost().load(file),
      (e: unknown) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
    );
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandRunner } from './exec.ts';
import { isQuery, RecordingRunner } from './recording-runner.ts';

test('recording runner: records in order, runs nothing, answers like a healthy host', async () => {
  const asked: string[] = [];
  const host: CommandRunner = {
    async run(cmd, args) {
      asked.push([cmd, ...args].join(' '));
      return { code: 0, signal: null, stdout: Buffer.from('/var/db/brig/zfs\n'), stderr: Buffer.alloc(0) };
    },
  };
  const r = new RecordingRunner(undefined, host);
  r.stop();
  await r.run('conmon', ['--version']);
  r.start();
  assert.equal(
    (await r.run('zfs', ['list', '-H', '-o', 'name', 'zroot/brig'])).stdout.toString(),
    '/var/db/brig/zfs\n',
  );
  const created = await r.run('zfs', ['create', 'zroot/brig/1']);
  assert.equal(created.code, 0);
  assert.equal((await r.run('sysctl', ['-n', 'kern.racct.enable'])).code, 0);
  r.note('/usr/local/bin/ocijail', ['create', 'x'], 'conmon');
  await r.run('mount', ['-t', 'nullfs', 'a', 'b'], { cwd: '/tmp' });
  assert.deepEqual(r.commands, [
    { cmd: 'zfs', args: ['list', '-H', '-o', 'name', 'zroot/brig'] },
    { cmd: 'zfs', args: ['create', 'zroot/brig/1'] },
    { cmd: 'sysctl', args: ['-n', 'kern.racct.enable'] },
    { cmd: '/usr/local/bin/ocijail', args: ['create', 'x'], via: 'conmon' },
    { cmd: 'mount', args: ['-t', 'nullfs', 'a', 'b'], cwd: '/tmp' },
  ]);
  // only the queries reached the host; nothing that changes it
  assert.deepEqual(asked, [
    'conmon --version',
    'zfs list -H -o name zroot/brig',
    'sysctl -n kern.racct.enable',
  ]);
});

test('recording runner: built-in answers without a host', async () => {
  const r = new RecordingRunner();
  assert.equal(
    (await r.run('zfs', ['get', '-H', '-o', 'value', 'mountpoint', 'z/b/2'])).stdout.toString(),
    '/z/b/2\n',
  );
  assert.match((await r.run('/usr/local/bin/ocijail', ['--version'])).stdout.toString(), /version/);
  assert.equal((await r.run('rctl', ['-a', 'jail:x:maxproc:deny=1'])).code, 0);
});

test('isQuery: reads are queries, changes are not', () => {
  for (const [cmd, args] of [
    ['zfs', ['list']],
    ['zfs', ['get', 'mountpoint', 'x']],
    ['sysctl', ['-n', 'kern.racct.enable']],
    ['rctl', ['-u', 'jail:x']],
    ['rctl', ['jail:x']],
    ['mount', ['-p']],
    ['devfs', ['rule', 'showsets']],
    ['jls', ['-N']],
  ] as const)
    assert.equal(isQuery(cmd, args), true, `${cmd} ${args.join(' ')}`);
  for (const [cmd, args] of [
    ['zfs', ['create', 'x']],
    ['zfs', ['destroy', 'x']],
    ['sysctl', ['-n', 'kern.x=1']],
    ['sysctl', ['kern.x=1']],
    ['rctl', ['-a', 'jail:x:maxproc:deny=1']],
    ['rctl', ['-r', 'jail:x']],
    ['mount', ['-t', 'nullfs', 'a', 'b']],
    ['devfs', ['rule', '-s', '5', 'delset']],
    ['jail', ['-m', 'jid=1']],
    ['ocijail', ['state', 'x']],
  ] as const)
    assert.equal(isQuery(cmd, args), false, `${cmd} ${args.join(' ')}`);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrigError } from '../errors/errors.ts';
import type { CommandRunner } from '../platform/exec.ts';
import { mountAll, unmountAll } from './mount.ts';

function recorder(failOn?: (args: readonly string[]) => boolean) {
  const calls: Array<{ cmd: string; args: readonly string[]; cwd?: string }> = [];
  const runner: CommandRunner = {
    async run(cmd, args, opts = {}) {
      calls.push({ cmd, args, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
      if (failOn?.(args)) throw new BrigError('ERR_COMMAND_FAILED', `${cmd} failed`);
      return { code: 0, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };
    },
  };
  return { calls, runner };
}

test('mountAll: binds are made private, read-only binds remounted, overlay runs in cwd', async () => {
  const { calls, runner } = recorder();
  await mountAll(
    [
      {
        type: 'overlay',
        source: 'overlay',
        options: ['lowerdir=1/fs:2/fs', 'upperdir=3/fs', 'workdir=3/work'],
        cwd: '/r/s',
      },
      { type: 'bind', source: '/v/_data', target: 'data', options: ['rbind', 'ro'] },
      { type: 'bind', source: '/x', target: 'x', options: ['bind', 'rw'] },
    ],
    '/b/rootfs',
    runner,
  );
  assert.deepEqual(calls, [
    {
      cmd: 'mount',
      args: [
        '-t',
        'overlay',
        '-o',
        'lowerdir=1/fs:2/fs,upperdir=3/fs,workdir=3/work',
        '--',
        'overlay',
        '/b/rootfs',
      ],
      cwd: '/r/s',
    },
    { cmd: 'mount', args: ['--rbind', '--', '/v/_data', '/b/rootfs/data'] },
    { cmd: 'mount', args: ['-o', 'remount,bind,ro', '--', '/b/rootfs/data'] },
    { cmd: 'mount', args: ['--make-rprivate', '--', '/b/rootfs/data'] },
    { cmd: 'mount', args: ['--bind', '--', '/x', '/b/rootfs/x'] },
    { cmd: 'mount', args: ['--make-private', '--', '/b/rootfs/x'] },
  ]);
});

test('mountAll undoes what it mounted when a later mount fails', async () => {
  const { calls, runner } = recorder((args) => args.includes('/b/rootfs/second'));
  await assert.rejects(
    mountAll(
      [
        { type: 'bind', source: '/a', options: ['rbind', 'rw'] },
        { type: 'tmpfs', source: 'tmpfs', target: 'second', options: [] },
      ],
      '/b/rootfs',
      runner,
    ),
    (e: unknown) => e instanceof BrigError && e.code === 'ERR_COMMAND_FAILED',
  );
  assert.deepEqual(calls.at(-1), { cmd: 'umount', args: ['-R', '/b/rootfs'] });
});

test('unmountAll unmounts in reverse order', async () => {
  const { calls, runner } = recorder();
  await unmountAll(
    [
      { type: 'overlay', source: 'overlay', options: [] },
      { type: 'bind', source: '/v', target: 'data', options: ['rbind'] },
    ],
    '/b/rootfs',
    { runner, lazy: true },
  );
  assert.deepEqual(
    calls.map((c) => c.args),
    [
      ['-R', '-l', '/b/rootfs/data'],
      ['-R', '-l', '/b/rootfs'],
    ],
  );
});

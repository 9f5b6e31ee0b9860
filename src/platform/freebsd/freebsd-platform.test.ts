import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandRunner } from '../exec.ts';
import { FreeBSDPlatform } from './freebsd-platform.ts';

function answering(stdout: string, log: string[] = []): CommandRunner {
  return {
    async run(cmd, args) {
      log.push([cmd, ...args].join(' '));
      return { code: 0, signal: null, stdout: Buffer.from(stdout), stderr: Buffer.alloc(0) };
    },
  };
}

test('mountsBelow reads mount -p (fstab format, \\040 escapes), deepest first', async () => {
  const fstab = [
    'zroot/ROOT/default\t/\tzfs\trw\t0\t0',
    'devfs\t/dev\tdevfs\trw\t0\t0',
    '/var/db/brig/zfs/2\t/var/db/brig/containers/a\\040b/rootfs\tnullfs\trw\t0\t0',
    'devfs\t/var/db/brig/containers/a\\040b/rootfs/dev\tdevfs\trw\t0\t0',
    'fdescfs\t/var/db/brig/containers/a\\040b/rootfs/dev/fd\tfdescfs\trw\t0\t0',
    'tmpfs\t/var/db/brig/containers/other/rootfs\ttmpfs\trw\t0\t0',
    '',
  ].join('\n');
  const log: string[] = [];
  const p = new FreeBSDPlatform({ runner: answering(fstab, log) });
  assert.deepEqual(await p.mountsBelow('/var/db/brig/containers/a b/rootfs'), [
    '/var/db/brig/containers/a b/rootfs/dev/fd',
    '/var/db/brig/containers/a b/rootfs/dev',
    '/var/db/brig/containers/a b/rootfs',
  ]);
  log.length = 0;
  await p.unmountBelow('/var/db/brig/containers/a b/rootfs');
  assert.deepEqual(log, [
    'mount -p',
    'umount /var/db/brig/containers/a b/rootfs/dev/fd',
    'umount /var/db/brig/containers/a b/rootfs/dev',
    'umount /var/db/brig/containers/a b/rootfs',
  ]);
});

test('processes parses ps -J output; stats parses rctl -u', async () => {
  const ps = new FreeBSDPlatform({
    runner: answering('  1234  1200 root   0:01.50 /bin/sh -c serve\n 1240 1234 www 1:02.00 httpd -f\n'),
  });
  assert.deepEqual(await ps.processes('jail:x'), [
    { pid: 1234, ppid: 1200, user: 'root', time: 1.5, cmd: '/bin/sh -c serve' },
    { pid: 1240, ppid: 1234, user: 'www', time: 62, cmd: 'httpd -f' },
  ]);
  const runner: CommandRunner = {
    async run(cmd, args) {
      const out =
        cmd === 'sysctl'
          ? '1\n'
          : args[0] === '-u'
            ? 'cputime=7\nmemoryuse=1048576\nmaxproc=3\nreadbps=0\n'
            : 'jail:x:memoryuse:deny=2097152\n';
      return { code: 0, signal: null, stdout: Buffer.from(out), stderr: Buffer.alloc(0) };
    },
  };
  assert.deepEqual(await new FreeBSDPlatform({ runner }).stats('jail:x'), {
    cpuNanos: 7e9,
    memoryBytes: 1048576,
    memoryLimitBytes: 2097152,
    pids: 3,
    ioReadBytes: 0,
    ioWriteBytes: 0,
  });
});

test('runtime: conmon and the first FreeBSD runtime that answers --version; ERR_RUNTIME_UNAVAILABLE', async () => {
  const have = new Set(['/usr/local/bin/conmon', '/usr/local/bin/runj']);
  const runner: CommandRunner = {
    async run(cmd) {
      const ok = have.has(cmd);
      return {
        code: ok ? 0 : 127,
        signal: null,
        stdout: Buffer.from(ok ? `${cmd.slice(cmd.lastIndexOf('/') + 1)} version 1.2.3\n` : ''),
        stderr: Buffer.from(ok ? '' : 'not found'),
      };
    },
  };
  const info = await new FreeBSDPlatform({ runner }).runtime({
    want: 'auto',
    workDir: '/var/db/brig/runtime',
  });
  assert.equal(info.name, 'runj');
  assert.equal(info.version, '1.2.3');
  assert.equal(info.stateRoot, '/var/db/brig/runtime/runj');
  assert.deepEqual(
    info.rejected.map((r) => r.name),
    ['ocijail'],
  );
  await assert.rejects(
    new FreeBSDPlatform({ runner }).runtime({ want: 'runc', workDir: '/w' }),
    (e: { code?: string }) => e.code === 'ERR_RUNTIME_UNAVAILABLE',
  );
});

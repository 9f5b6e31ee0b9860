/**
 * Linux isolation that privileges decide, with real containers (built brigd, runc under conmon,
 * the busybox fixture): `vnet` gives the container its own network namespace (loopback only) and
 * CAP_NET_ADMIN acts only there; without it there is no CAP_NET_ADMIN. SysV IPC: any class
 * `inherit` shares the host's IPC namespace, `disable` makes the class's syscalls fail (seccomp,
 * ENOSYS). The SysV checks run the host's util-linux ipcmk, bound read-only into the container.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { describe, test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { importPrivileged, runSh } from './privileges-support.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'ip', 'ipcmk'] });
const CAP_NET_ADMIN = 12n;

const capEff = (out: string) => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(out)![1]}`);
const hostLinks = () => execFileSync('ip', ['-o', 'link', 'show']).toString();

describe('Linux isolation decided by privileges', { concurrency: false }, () => {
  test(
    'vnet: own network namespace with only lo, CAP_NET_ADMIN only there; none without vnet',
    needs,
    async (t) => {
      const d = await startDaemon(t, { config: { policy: { vnet: true } } });
      await importPrivileged(t, d, 'vnet:1', { vnet: true });
      await importPrivileged(t, d, 'plain:1', {});
      const before = hostLinks();
      // the MTU change runs only when the container sees lo alone (its own namespace)
      const v = await runSh(
        d,
        'vnet:1',
        'grep : /proc/net/dev | cut -d: -f1 | tr -d " "; ip -o link show | cut -d: -f2 | tr -d " "; ' +
          'grep ^CapEff /proc/self/status; ' +
          'if [ "$(grep -c : /proc/net/dev)" = 1 ]; then ip link set lo mtu 1280 && ip -o link show lo; fi',
      );
      assert.equal(v.exitCode, 0, v.out);
      const lines = v.out.split('\n').filter((l) => /^\w+$/.test(l));
      assert.deepEqual(lines, ['lo', 'lo'], v.out);
      assert.equal((capEff(v.out) >> CAP_NET_ADMIN) & 1n, 1n, v.out);
      assert.match(v.out, /mtu 1280/, 'CAP_NET_ADMIN works in its own namespace');
      assert.equal(hostLinks(), before, 'the host’s interfaces are untouched');
      assert.doesNotMatch(execFileSync('ip', ['-o', 'link', 'show', 'lo']).toString(), /mtu 1280/);

      const p = await runSh(
        d,
        'plain:1',
        'grep ^CapEff /proc/self/status; ip link set lo mtu 1280; echo rc=$?',
      );
      assert.equal((capEff(p.out) >> CAP_NET_ADMIN) & 1n, 0n, p.out);
      assert.doesNotMatch(p.out, /rc=0/);
      assert.equal(hostLinks(), before);
    },
  );

  test(
    'sysvipc: inherit of any class shares the host IPC namespace; disable denies the class',
    needs,
    async (t) => {
      const d = await startDaemon(t, {
        config: {
          policy: {
            bindMounts: ['/usr'],
            sysvipc: {
              msg: ['new', 'inherit', 'disable'],
              shm: ['new', 'inherit', 'disable'],
              sem: ['new', 'inherit', 'disable'],
            },
          },
        },
      });
      const hostIpc = readlinkSync('/proc/self/ns/ipc');
      const ipcmk =
        '/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path /host/usr/lib/x86_64-linux-gnu /host/usr/bin/ipcmk';
      const usr = { mounts: [{ kind: 'volume', value: '/usr:/host/usr:ro' }] };
      for (const c of ['msg', 'shm', 'sem'] as const) {
        const others = Object.fromEntries(
          ['msg', 'shm', 'sem'].filter((x) => x !== c).map((x) => [x, 'disable']),
        );
        await importPrivileged(t, d, `inherit-${c}:1`, { sysvipc: { [c]: 'inherit', ...others } });
        const r = await runSh(d, `inherit-${c}:1`, 'readlink /proc/self/ns/ipc');
        assert.equal(r.out.trim(), hostIpc, `sysvipc.${c}=inherit shares the host's IPC namespace`);
      }
      await importPrivileged(t, d, 'new:1', {});
      assert.notEqual((await runSh(d, 'new:1', 'readlink /proc/self/ns/ipc')).out.trim(), hostIpc);
      const flag = { msg: '-Q', shm: '-M 4096', sem: '-S 1' } as const;
      for (const c of ['msg', 'shm', 'sem'] as const) {
        await importPrivileged(t, d, `disable-${c}:1`, { sysvipc: { [c]: 'disable' } });
        const script = (['msg', 'shm', 'sem'] as const)
          .map((x) => `${ipcmk} ${flag[x]} 2>&1; echo ${x}=$?`)
          .join('; ');
        const r = await runSh(d, `disable-${c}:1`, script, usr);
        for (const x of ['msg', 'shm', 'sem'] as const)
          assert.match(r.out, new RegExp(`^${x}=${x === c ? '[1-9]' : '0'}`, 'm'), `${c} disabled: ${r.out}`);
        assert.match(r.out, /Function not implemented/, 'ENOSYS, as a FreeBSD jail answers');
      }
    },
  );
});

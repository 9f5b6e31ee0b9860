import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linuxEffects, SYSVIPC_SYSCALLS } from '../../policy/effects.ts';
import type { Grant } from '../../policy/policy.ts';
import { SYSVIPC_CLASSES } from '../../policy/privileges.ts';
import type { BundleInput, PrivilegeGrant } from '../platform.ts';
import { linuxCapabilities, linuxSection } from './linux-platform.ts';

type Mode = 'new' | 'inherit' | 'disable';
const UNCONFINED = { setting: 'unconfined', host: { arch: 'x64', kernel: [6, 1] } } as const;
const MODES: Mode[] = ['new', 'inherit', 'disable'];

function input(grant: PrivilegeGrant): BundleInput {
  return { id: 'c', daemonTag: 't', name: 'n', limits: {}, grant, readOnlyRoot: false, terminal: false };
}
const namespaces = (s: Record<string, unknown>) =>
  (s.namespaces as Array<{ type: string }>).map((n) => n.type);
function grantOf(sysvipc: Grant['sysvipc'], vnet = false): Grant {
  return { devfs: [], allow: [], sysvipc, vnet, childrenMax: 0, securelevel: -1, items: [], overrides: [] };
}

describe('linuxSection follows linuxEffects', () => {
  test('the IPC namespace and the seccomp filter for all 27 SysV IPC combinations', () => {
    for (const msg of MODES)
      for (const shm of MODES)
        for (const sem of MODES) {
          const sysvipc = { msg, shm, sem };
          const fx = linuxEffects(grantOf(sysvipc));
          // unconfined: the SysV IPC filter alone (the default profile is tested in ./seccomp.test.ts)
          const s = linuxSection(input({ sysvipc }), '/x', UNCONFINED);
          const label = JSON.stringify(sysvipc);
          assert.equal(namespaces(s).includes('ipc'), fx.ipcNamespace === 'new', label);
          const seccomp = s.seccomp as
            | {
                defaultAction: string;
                syscalls: Array<{ names: string[]; action: string; errnoRet: number }>;
              }
            | undefined;
          if (fx.deniedSyscalls.length === 0) assert.equal(seccomp, undefined, label);
          else {
            assert.equal(seccomp?.defaultAction, 'SCMP_ACT_ALLOW', label);
            assert.deepEqual(seccomp?.syscalls?.[0], {
              names: fx.deniedSyscalls,
              action: 'SCMP_ACT_ERRNO',
              errnoRet: 38,
            });
            // the rest: the i386 ipc(2) multiplexer, by call number
            assert.ok(seccomp?.syscalls?.slice(1).every((e) => e.names.join() === 'ipc'));
          }
        }
  });

  test('each class alone: inherit shares the host IPC namespace, disable denies its syscalls', () => {
    for (const c of SYSVIPC_CLASSES) {
      assert.ok(!namespaces(linuxSection(input({ sysvipc: { [c]: 'inherit' } }), '/x')).includes('ipc'), c);
      const s = linuxSection(input({ sysvipc: { [c]: 'disable' } }), '/x', UNCONFINED);
      assert.ok(namespaces(s).includes('ipc'), c);
      assert.deepEqual((s.seccomp as { syscalls: Array<{ names: string[] }> }).syscalls[0]!.names, [
        ...SYSVIPC_SYSCALLS[c],
      ]);
    }
    assert.ok(namespaces(linuxSection(input({}), '/x')).includes('ipc'));
  });

  test('vnet: its own network namespace, and CAP_NET_ADMIN only with it', () => {
    assert.ok(namespaces(linuxSection(input({ vnet: true }), '/x')).includes('network'));
    assert.ok(!namespaces(linuxSection(input({}), '/x')).includes('network'));
    assert.equal(linuxEffects(grantOf({ msg: 'new', shm: 'new', sem: 'new' }, true)).networkNamespace, 'new');
    assert.ok(linuxCapabilities({ vnet: true, capabilities: ['CAP_NET_ADMIN'] }).includes('CAP_NET_ADMIN'));
    // a grant that carries CAP_NET_ADMIN without vnet never reaches the process
    assert.ok(
      !linuxCapabilities({ capabilities: ['CAP_NET_ADMIN', 'CAP_NET_RAW'] }).includes('CAP_NET_ADMIN'),
    );
    assert.ok(linuxCapabilities({ capabilities: ['CAP_NET_RAW'] }).includes('CAP_NET_RAW'));
  });
});

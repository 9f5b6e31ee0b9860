import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linuxEffects } from '../../policy/effects.ts';
import type { Grant } from '../../policy/policy.ts';
import type { BundleInput, PrivilegeGrant } from '../platform.ts';
import { linuxCapabilities, linuxSection } from './linux-platform.ts';

function input(grant: PrivilegeGrant): BundleInput {
  return { id: 'c', daemonTag: 't', name: 'n', limits: {}, grant, readOnlyRoot: false, terminal: false };
}
const namespaces = (s: Record<string, unknown>) =>
  (s.namespaces as Array<{ type: string }>).map((n) => n.type);
function grantOf(sysvipc: Grant['sysvipc'], vnet = false): Grant {
  return { devfs: [], allow: [], sysvipc, vnet, childrenMax: 0, securelevel: -1, items: [], overrides: [] };
}

describe('linuxSection follows linuxEffects', () => {
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

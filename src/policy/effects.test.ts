import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { BrigError } from '../errors/errors.ts';
import { assertLinuxSupported, freebsdJailParams, LINUX_ALLOW, linuxEffects } from './effects.ts';
import { defaultPolicy, evaluate, type Grant } from './policy.ts';
import { ALLOW_NAMES, type AllowName, BASELINE_ALLOW, parsePrivileges } from './privileges.ts';

const PLAIN: Grant = evaluate(parsePrivileges(undefined), defaultPolicy).granted;
const withGrant = (g: Partial<Grant>): Grant => ({ ...PLAIN, ...g });
const allow = (...names: AllowName[]): Grant =>
  withGrant({ allow: [...new Set([...BASELINE_ALLOW, ...names])].sort() });

describe('linuxEffects', () => {
  test('a plain container: its own IPC namespace, no extra capability but binding low ports', () => {
    assert.deepEqual(linuxEffects(PLAIN), {
      capabilities: ['CAP_NET_BIND_SERVICE'],
      ipcNamespace: 'new',
      networkNamespace: 'host',
      deniedSyscalls: [],
      warnings: [],
      unsupported: [],
    });
  });

  test('allow.* become capabilities', () => {
    const caps = (n: AllowName) =>
      linuxEffects(allow(n)).capabilities.filter((c) => c !== 'CAP_NET_BIND_SERVICE');
    assert.deepEqual(caps('raw_sockets'), ['CAP_NET_RAW']);
    assert.deepEqual(caps('mlock'), ['CAP_IPC_LOCK']);
    assert.deepEqual(caps('chflags'), ['CAP_LINUX_IMMUTABLE']);
    assert.deepEqual(caps('read_msgbuf'), ['CAP_SYSLOG']);
    assert.deepEqual(caps('settime'), ['CAP_SYS_TIME']);
    assert.deepEqual(caps('setaudit'), ['CAP_AUDIT_CONTROL']);
    for (const m of ['mount', 'mount.tmpfs', 'mount.nullfs', 'mount.procfs', 'mount.fusefs'] as const) {
      assert.deepEqual(caps(m), ['CAP_SYS_ADMIN']);
      assert.ok(
        linuxEffects(allow(m)).warnings.some((w) => w.includes('CAP_SYS_ADMIN')),
        m,
      );
    }
    assert.deepEqual(linuxEffects(withGrant({ vnet: true })).capabilities, [
      'CAP_NET_ADMIN',
      'CAP_NET_BIND_SERVICE',
    ]);
  });

  test('what Linux cannot do is refused; what has no effect is a warning', () => {
    for (const n of ['mount.devfs', 'mount.zfs', 'nfsd', 'routing', 'vmm', 'vmm_ppt'] as const) {
      const e = linuxEffects(allow(n));
      assert.deepEqual(
        e.unsupported.map((u) => u.item),
        [`allow.${n}`],
      );
      assert.throws(
        () => assertLinuxSupported(e),
        (x: unknown) => x instanceof BrigError && x.code === 'ERR_UNSUPPORTED_PLATFORM',
      );
    }
    for (const n of ['set_hostname', 'quotas', 'extattr', 'unprivileged_parent_tampering'] as const) {
      const e = linuxEffects(allow(n));
      assert.equal(e.warnings.length, 1, n);
      assert.deepEqual(e.unsupported, []);
      assert.deepEqual(e.capabilities, ['CAP_NET_BIND_SERVICE']);
    }
    for (const n of ['socket_af', 'unprivileged_proc_debug', 'mount.fdescfs'] as const)
      assert.deepEqual(linuxEffects(allow(n)), linuxEffects(PLAIN), n);
    assert.deepEqual(
      linuxEffects(withGrant({ childrenMax: 2 })).unsupported.map((u) => u.item),
      ['children.max=2'],
    );
    assertLinuxSupported(linuxEffects(allow('raw_sockets')));
  });

  test('docs/privileges.md describes every allow.* parameter', () => {
    const doc = readFileSync(new URL('../../docs/privileges.md', import.meta.url), 'utf8');
    for (const n of ALLOW_NAMES) assert.ok(doc.includes(`\`${n}\``), n);
  });

  test('every allow.* has exactly one Linux meaning', () => {
    for (const n of ALLOW_NAMES) {
      const m = LINUX_ALLOW[n];
      const kinds = [
        m.caps !== undefined,
        m.unsupported !== undefined,
        m.warning !== undefined,
        m.caps === undefined && m.note !== undefined,
      ];
      assert.equal(kinds.filter(Boolean).length, 1, n);
    }
  });

  test('SysV IPC: inherit shares the host namespace, disable denies the syscalls, new+inherit cannot mix', () => {
    const e = linuxEffects(withGrant({ sysvipc: { msg: 'disable', shm: 'inherit', sem: 'inherit' } }));
    assert.equal(e.ipcNamespace, 'host');
    assert.deepEqual(e.deniedSyscalls, ['msgctl', 'msgget', 'msgrcv', 'msgsnd']);
    assert.deepEqual(e.unsupported, []);
    const d = linuxEffects(withGrant({ sysvipc: { msg: 'disable', shm: 'disable', sem: 'new' } }));
    assert.equal(d.ipcNamespace, 'new');
    assert.equal(d.deniedSyscalls.length, 8);
    const mixed = linuxEffects(withGrant({ sysvipc: { msg: 'new', shm: 'inherit', sem: 'disable' } }));
    assert.deepEqual(
      mixed.unsupported.map((u) => u.item),
      ['sysvipc.msg=new'],
    );
  });

  test('securelevel: a warning; at 1 and above chflags loses CAP_LINUX_IMMUTABLE', () => {
    assert.equal(linuxEffects(withGrant({ securelevel: 2 })).warnings.length, 1);
    const e = linuxEffects({ ...allow('chflags'), securelevel: 1 });
    assert.ok(!e.capabilities.includes('CAP_LINUX_IMMUTABLE'));
    assert.ok(
      linuxEffects({ ...allow('chflags'), securelevel: 0 }).capabilities.includes('CAP_LINUX_IMMUTABLE'),
    );
  });
});

describe('freebsdJailParams', () => {
  test('a plain container: set_hostname, raw_sockets, chflags off; enforce_statfs 1; devfs ruleset 4', () => {
    assert.deepEqual(freebsdJailParams(PLAIN), {
      'allow.reserved_ports': 'true',
      'allow.suser': 'true',
      'allow.set_hostname': 'false',
      'allow.raw_sockets': 'false',
      'allow.chflags': 'false',
      enforce_statfs: '1',
      devfs_ruleset: '4',
      sysvmsg: 'new',
      sysvshm: 'new',
      sysvsem: 'new',
      'children.max': '0',
      vnet: 'inherit',
    });
  });

  test('every allow.mount.<fs> brings allow.mount (jail(8)) with enforce_statfs below 2', () => {
    for (const fs of ALLOW_NAMES.filter((n) => n.startsWith('mount.'))) {
      const p = freebsdJailParams(allow(fs));
      assert.equal(p[`allow.${fs}`], 'true', fs);
      assert.equal(p['allow.mount'], 'true', fs);
      assert.ok(Number(p.enforce_statfs) < 2, fs);
    }
    assert.equal(freebsdJailParams(PLAIN)['allow.mount'], undefined);
  });

  test('granted names, vnet, children, securelevel, SysV IPC, the devfs ruleset', () => {
    const p = freebsdJailParams({
      ...allow('mount.tmpfs', 'raw_sockets', 'set_hostname'),
      vnet: true,
      childrenMax: 3,
      securelevel: 2,
      sysvipc: { msg: 'disable', shm: 'inherit', sem: 'new' },
    });
    assert.equal(p['allow.raw_sockets'], 'true');
    assert.equal(p['allow.set_hostname'], 'true');
    assert.equal(p['allow.chflags'], 'false');
    assert.equal(p.vnet, 'new');
    assert.equal(p['children.max'], '3');
    assert.equal(p.securelevel, '2');
    assert.deepEqual([p.sysvmsg, p.sysvshm, p.sysvsem], ['disable', 'inherit', 'new']);
    assert.equal(freebsdJailParams({ devfsRuleset: 1007 }).devfs_ruleset, '1007');
  });
});

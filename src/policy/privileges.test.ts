import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BrigError } from '../errors/errors.ts';
import {
  ALLOW_NAMES,
  NO_PRIVILEGES,
  type PrivilegeItem,
  parseGrant,
  parsePrivileges,
  privilegeItems,
  SYSVIPC_CLASSES,
  SYSVIPC_MODES,
  spell,
} from './privileges.ts';

// design §7
const EXAMPLE = {
  devfs: ["path 'bpf*' unhide", "path 'tun*' unhide mode 0660"],
  allow: ['raw_sockets', 'mount.tmpfs'],
  sysvipc: { msg: 'new', shm: 'inherit', sem: 'disable' },
  vnet: true,
  childrenMax: 0,
  securelevel: 2,
};

function fails(code: string, field: string, input: unknown): void {
  assert.throws(
    () => parsePrivileges(input),
    (e: unknown) => e instanceof BrigError && e.code === code && e.details?.field === field,
    JSON.stringify(input),
  );
}

describe('parsePrivileges', () => {
  test('the example of design §7', () => {
    assert.deepEqual(parsePrivileges(EXAMPLE), {
      devfs: ["path 'bpf*' unhide", "path 'tun*' unhide mode 0660"],
      allow: ['mount.tmpfs', 'raw_sockets'],
      sysvipc: { msg: 'new', shm: 'inherit', sem: 'disable' },
      vnet: true,
      childrenMax: 0,
      securelevel: 2,
    });
  });

  test('absent means nothing requested; rules are canonicalised; names deduplicated', () => {
    assert.deepEqual(parsePrivileges(undefined), NO_PRIVILEGES);
    assert.deepEqual(parsePrivileges({}), { devfs: [], allow: [], sysvipc: {}, vnet: false, childrenMax: 0 });
    const p = parsePrivileges({
      devfs: ['add path "fuse"   unhide'],
      allow: ['allow.mlock', 'mlock', 'chflags'],
    });
    assert.deepEqual(p.devfs, ['path fuse unhide']);
    assert.deepEqual(p.allow, ['chflags', 'mlock']);
  });

  test('allow.sysvipc is jail(8)’s spelling of all three classes in inherit mode', () => {
    assert.deepEqual(parsePrivileges({ allow: ['sysvipc'] }).sysvipc, {
      msg: 'inherit',
      shm: 'inherit',
      sem: 'inherit',
    });
    assert.deepEqual(parsePrivileges({ allow: ['sysvipc'], sysvipc: { shm: 'inherit' } }).allow, []);
    fails('ERR_PRIVILEGE_INVALID', 'brig.privileges.allow[0]', {
      allow: ['sysvipc'],
      sysvipc: { shm: 'new' },
    });
  });

  test('precise errors: the field and the kind of mistake', () => {
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges', []);
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges', null);
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.devices', { devices: [] });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.devfs', { devfs: 'path x unhide' });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.devfs[1]', { devfs: ['path x unhide', 3] });
    fails('ERR_DEVFS_RULE_INVALID', 'brig.privileges.devfs[0]', { devfs: ['path x frob'] });
    fails('ERR_DEVFS_RULE_INVALID', 'brig.privileges.devfs[0]', { devfs: ['add 100 path x unhide'] });
    fails('ERR_DEVFS_RULE_INVALID', 'brig.privileges.devfs[0]', { devfs: ['include 1000'] });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.allow', { allow: 'raw_sockets' });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.allow[0]', { allow: [1] });
    fails('ERR_PRIVILEGE_INVALID', 'brig.privileges.allow[1]', { allow: ['mlock', 'raw_socket'] });
    fails('ERR_PRIVILEGE_INVALID', 'brig.privileges.allow[0]', { allow: ['mount.ext4'] });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.sysvipc', { sysvipc: 'new' });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.sysvipc.sh', { sysvipc: { sh: 'new' } });
    fails('ERR_PRIVILEGE_INVALID', 'brig.privileges.sysvipc.shm', { sysvipc: { shm: 'shared' } });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.sysvipc.shm', { sysvipc: { shm: true } });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.vnet', { vnet: 'yes' });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.childrenMax', { childrenMax: 1.5 });
    fails('ERR_PRIVILEGE_INVALID', 'brig.privileges.childrenMax', { childrenMax: -1 });
    fails('ERR_PRIVILEGE_INVALID', 'brig.privileges.securelevel', { securelevel: 4 });
    fails('ERR_PRIVILEGE_INVALID', 'brig.privileges.securelevel', { securelevel: -2 });
    fails('ERR_BRIG_SECTION_INVALID', 'brig.privileges.securelevel', { securelevel: '2' });
  });

  test('an unknown allow name suggests the nearest one', () => {
    try {
      parsePrivileges({ allow: ['raw_socket'] });
      assert.fail('no error');
    } catch (e) {
      assert.ok(e instanceof BrigError && e.message.includes('raw_sockets'));
    }
  });
});

describe('privilege items', () => {
  test('spelled as --grant spells them, in a stable order', () => {
    assert.deepEqual(privilegeItems(parsePrivileges({ ...EXAMPLE, childrenMax: 3 })).map(spell), [
      "devfs:path 'bpf*' unhide",
      "devfs:path 'tun*' unhide mode 0660",
      'allow.mount.tmpfs',
      'allow.raw_sockets',
      'sysvipc.msg=new',
      'sysvipc.shm=inherit',
      'sysvipc.sem=disable',
      'vnet',
      'children.max=3',
      'securelevel=2',
    ]);
    assert.deepEqual(privilegeItems(NO_PRIVILEGES), []);
  });

  const item: fc.Arbitrary<PrivilegeItem> = fc.oneof(
    fc
      .constantFrom(
        "path 'bpf*' unhide",
        'path fuse unhide mode 0600',
        'type disk hide',
        'include $devfsrules_jail',
      )
      .map((rule) => ({ kind: 'devfs' as const, rule })),
    fc.constantFrom(...ALLOW_NAMES).map((name) => ({ kind: 'allow' as const, name })),
    fc
      .tuple(fc.constantFrom(...SYSVIPC_CLASSES), fc.constantFrom(...SYSVIPC_MODES))
      .map(([c, mode]) => ({ kind: 'sysvipc' as const, class: c, mode })),
    fc.constant({ kind: 'vnet' as const }),
    fc.integer({ min: 0, max: 1000 }).map((value) => ({ kind: 'childrenMax' as const, value })),
    fc.integer({ min: -1, max: 3 }).map((value) => ({ kind: 'securelevel' as const, value })),
    fc.integer({ min: 1, max: 65535 }).map((port) => ({ kind: 'port' as const, port })),
    fc.constantFrom('/srv/data', '/var/lib/x y').map((path) => ({ kind: 'bind' as const, path })),
  );

  test('parseGrant(spell(item)) is the item (property)', () => {
    fc.assert(
      fc.property(item, (i) => {
        assert.deepEqual(parseGrant(spell(i)), i);
      }),
    );
  });

  test('--grant spellings: devfs rules are canonicalised, unknown spellings refused', () => {
    assert.deepEqual(parseGrant('devfs:path "bpf*"  unhide'), { kind: 'devfs', rule: "path 'bpf*' unhide" });
    assert.deepEqual(parseGrant(' allow.raw_sockets '), { kind: 'allow', name: 'raw_sockets' });
    for (const bad of [
      'raw_sockets',
      'allow.raw_socket',
      'allow.sysvipc',
      'all',
      'devfs:path x',
      'devfs:add 100 path x unhide',
      'sysvipc.shm=shared',
      'sysvipc.pipe=new',
      'sysvipc.shm',
      'children.max=-1',
      'children.max=x',
      'securelevel=4',
      'port=0',
      'port=65536',
      'bind:relative',
      'vnet=true',
      '',
    ])
      assert.throws(
        () => parseGrant(bad),
        (e: unknown) => e instanceof BrigError && e.code === 'ERR_PRIVILEGE_INVALID',
        bad,
      );
  });
});

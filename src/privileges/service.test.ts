import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import type { DeviceNode } from '../devfs/index.ts';
import { BrigError } from '../errors/errors.ts';
import { EventLog } from '../events/events.ts';
import { openDatabase } from '../metadata/db.ts';
import type { CommandRunner } from '../platform/exec.ts';
import { SimulatedFreeBSDHost } from '../platform/fake/index.ts';
import { parsePolicy, parsePrivileges } from '../policy/index.ts';
import { type ImageFacts, PrivilegeService, type PrivilegeServiceOptions } from './service.ts';

const code = (c: string) => (e: unknown) => e instanceof BrigError && e.code === c;
const INVENTORY: DeviceNode[] = [
  { path: 'fuse', type: 'c', major: 10, minor: 229, mode: 0o666, uid: 0, gid: 0 },
  { path: 'kvm', type: 'c', major: 10, minor: 232, mode: 0o660, uid: 0, gid: 108 },
  { path: 'mem', type: 'c', major: 1, minor: 1, mode: 0o640, uid: 0, gid: 15 },
];

function image(privileges: unknown, ref = 'docker.io/library/app:1'): ImageFacts {
  return { ref, digest: 'sha256:feed', brig: { privileges: parsePrivileges(privileges) } };
}

function setup(
  t: TestContext,
  o: Omit<Partial<PrivilegeServiceOptions>, 'policy'> & { policy?: unknown; root?: string } = {},
): { svc: PrivilegeService; events: EventLog; root: string; reopen(): PrivilegeService } {
  const root = o.root ?? tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const events = new EventLog(db);
  const make = () =>
    new PrivilegeService({
      policy: parsePolicy(o.policy ?? {}),
      db,
      events,
      os: o.os ?? 'linux',
      runner: o.runner ?? ({ run: () => assert.fail('no command expected on Linux') } as CommandRunner),
      adminGroups: o.adminGroups ?? [],
      resolveGroup: async (g) => (g === 'brigadm' ? 4242 : undefined),
      inventory: () => INVENTORY,
      ids: () => ({ users: { root: 0, alice: 1001 }, groups: { root: 0, kvm: 108 } }),
    });
  return { svc: make(), events, root, reopen: make };
}

describe('PrivilegeService.check', () => {
  test('lists every refusal (privileges, binds, ports) with its fix in one error', async (t) => {
    const { svc } = setup(t, { policy: { bindMounts: ['/srv/*'] } });
    const err = await svc
      .check(
        image({ allow: ['raw_sockets', 'mlock'], devfs: ['path fuse unhide'], vnet: true }),
        {
          binds: ['/etc/passwd', '/srv/ok'],
          ports: [80, 8080],
        },
        undefined,
      )
      .catch((e: unknown) => e);
    assert.ok(err instanceof BrigError && err.code === 'ERR_PRIVILEGE_REFUSED');
    const refusals = (err.details as { refusals: Array<{ item: string; policyKey: string; fix: string }> })
      .refusals;
    assert.deepEqual(
      refusals.map((r) => [r.item, r.policyKey]),
      [
        ['devfs:path fuse unhide', 'policy.devfs.grant'],
        ['allow.mlock', 'policy.allow'],
        ['allow.raw_sockets', 'policy.allow'],
        ['vnet', 'policy.vnet'],
        ['bind:/etc/passwd', 'policy.bindMounts'],
        ['port=80', 'policy.ports'],
      ],
    );
    for (const r of refusals) assert.match(r.fix, /--grant/);
  });

  test('--grant: refused for a non-administrator, allowed for root and admin.groups members', async (t) => {
    const { svc } = setup(t, { adminGroups: ['brigadm'] });
    const img = image({ allow: ['raw_sockets'] });
    const run = { grants: ['allow.raw_sockets'] };
    await assert.rejects(svc.check(img, run, undefined), code('ERR_GRANT_NOT_ALLOWED'));
    // an API request's caller that was never identified ({}) is not an administrator
    await assert.rejects(svc.check(img, run, {}), code('ERR_GRANT_NOT_ALLOWED'));
    await assert.rejects(
      svc.check(img, run, { uid: 1001, gid: 1001, groups: [100] }),
      code('ERR_GRANT_NOT_ALLOWED'),
    );
    const d = await svc.check(img, run, { uid: 1001, gid: 1001, groups: [100, 4242] });
    assert.deepEqual(d.grant.overrides, ['allow.raw_sockets']);
    assert.deepEqual((await svc.check(img, run, { uid: 0, gid: 0, groups: [] })).grant.overrides, [
      'allow.raw_sockets',
    ]);
    // trusted (a start with the stored --grant values) needs no caller
    assert.ok(await svc.check(img, run, undefined, { trusted: true }));
    // unknown spellings are refused before the caller is even considered
    await assert.rejects(
      svc.check(img, { grants: ['allow.everything'] }, undefined),
      code('ERR_PRIVILEGE_INVALID'),
    );
  });

  test('privileges Linux cannot provide are refused before create', async (t) => {
    const { svc } = setup(t, { policy: { allow: ['vmm'] } });
    await assert.rejects(
      svc.check(image({ allow: ['vmm'] }), {}, undefined),
      code('ERR_UNSUPPORTED_PLATFORM'),
    );
  });

  test('overrides become events naming the caller, the privilege and the image digest', async (t) => {
    const { svc, events } = setup(t);
    const img = image({ allow: ['raw_sockets'], vnet: true });
    const caller = { uid: 1001, gid: 1001, groups: [], pid: 77 };
    const d = await svc.check(
      img,
      { grants: ['allow.raw_sockets', 'vnet', 'port=80'], ports: [80] },
      {
        ...caller,
        uid: 0,
      },
    );
    svc.recordOverrides('c1', d, img, { ...caller, uid: 1001 });
    const evs = events.list({ type: ['policy'] });
    assert.deepEqual(
      evs.map((e) => [
        e.action,
        e.actorId,
        e.attributes.privilege,
        e.attributes.imageDigest,
        e.attributes.uid,
        e.attributes.user,
      ]),
      [
        ['grant', 'c1', 'allow.raw_sockets', 'sha256:feed', '1001', 'alice'],
        ['grant', 'c1', 'vnet', 'sha256:feed', '1001', 'alice'],
        ['grant', 'c1', 'port=80', 'sha256:feed', '1001', 'alice'],
      ],
    );
  });
});

describe('PrivilegeService on Linux', () => {
  test('the grant: devices from the inventory through the composed rules, capabilities, IPC', async (t) => {
    const { svc } = setup(t, {
      policy: { devfs: { grant: ['path fuse unhide', 'path mem unhide'] }, allow: ['raw_sockets'] },
    });
    const d = await svc.check(
      image({
        devfs: ['path fuse unhide', 'path mem unhide'],
        allow: ['raw_sockets'],
        sysvipc: { shm: 'new' },
      }),
      {},
      undefined,
    );
    await svc.acquireForContainer('c1', d.composed);
    const g = svc.grantFor('c1', d);
    // mem is granted but the default close rules hide it
    assert.deepEqual(g.devices, [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }]);
    assert.deepEqual(g.capabilities, ['CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    assert.equal(g.sysvipc?.shm, 'new');
    assert.equal(g.devfsRuleset, undefined);
  });

  test('identical compositions share a ruleset; freed with the last user; persisted across restarts', async (t) => {
    const { svc, reopen } = setup(t, {
      policy: { devfs: { grant: ['path fuse unhide', 'path kvm unhide'] } },
    });
    const sets = [image({}), image({ devfs: ['path fuse unhide'] }), image({ devfs: ['path kvm unhide'] })];
    for (let i = 0; i < 30; i++) {
      const d = await svc.check(sets[i % 3]!, {}, undefined);
      await svc.acquireForContainer(`c${i}`, d.composed);
    }
    assert.deepEqual(
      svc.list().map((s) => [s.number, s.containers.length]),
      [
        [1000, 10],
        [1001, 10],
        [1002, 10],
      ],
    );
    const again = reopen();
    assert.deepEqual(again.list(), svc.list());
    // reconcile drops users that no longer exist (no container record)
    const live = Array.from({ length: 30 }, (_, i) => `c${i}`).filter((_, i) => i % 3 !== 1);
    const rec = await again.reconcile(live);
    assert.equal(rec.released.length, 10);
    assert.deepEqual(
      again.list().map((s) => s.number),
      [1000, 1002],
    );
    for (const id of live) await again.releaseContainer(id);
    assert.deepEqual(again.list(), []);
    assert.deepEqual(reopen().list(), []);
  });

  test('exhaustion: ERR_DEVFS_RULESETS_EXHAUSTED and nothing changes', async (t) => {
    const { svc, reopen } = setup(t, {
      policy: {
        devfs: { grant: ['path fuse unhide', 'path kvm unhide'], rulesets: { first: 2000, max: 2 } },
      },
    });
    const a = await svc.check(image({}), {}, undefined);
    const b = await svc.check(image({ devfs: ['path fuse unhide'] }), {}, undefined);
    const c = await svc.check(image({ devfs: ['path kvm unhide'] }), {}, undefined);
    await svc.acquireForContainer('a', a.composed);
    await svc.acquireForContainer('b', b.composed);
    const before = svc.list();
    await assert.rejects(svc.acquireForContainer('c', c.composed), code('ERR_DEVFS_RULESETS_EXHAUSTED'));
    assert.deepEqual(svc.list(), before);
    assert.deepEqual(reopen().list(), before);
    // sharing an existing ruleset still works when full
    await svc.acquireForContainer('a2', a.composed);
    assert.deepEqual(svc.list()[0]!.containers, ['a', 'a2']);
  });
});

describe('PrivilegeService on (simulated) FreeBSD', () => {
  test('loads a new ruleset with devfs(8), shares it, deletes it with the last user', async (t) => {
    const host = new SimulatedFreeBSDHost();
    const { svc } = setup(t, {
      os: 'freebsd',
      runner: host,
      policy: { devfs: { grant: ["path 'bpf*' unhide"] } },
    });
    const d = await svc.check(image({ devfs: ["path 'bpf*' unhide"] }), {}, undefined);
    const showsets = async () => (await host.run('devfs', ['rule', 'showsets'])).stdout.toString();
    await svc.acquireForContainer('c1', d.composed);
    await svc.acquireForContainer('c2', d.composed);
    assert.match(await showsets(), /^1000$/m);
    const rules = (await host.run('devfs', ['rule', '-s', '1000', 'show'])).stdout.toString();
    assert.match(rules, /^\d+ path bpf\\?\* unhide$/m);
    assert.equal(svc.grantFor('c1', d).devfsRuleset, 1000);
    assert.deepEqual(svc.grantFor('c1', d).allow, ['reserved_ports', 'suser']);
    await svc.releaseContainer('c1');
    assert.match(await showsets(), /^1000$/m);
    await svc.releaseContainer('c2');
    assert.doesNotMatch(await showsets(), /^1000$/m);
  });

  test('a failed load leaves no entry and no kernel ruleset', async (t) => {
    const host = new SimulatedFreeBSDHost();
    const { svc } = setup(t, { os: 'freebsd', runner: host });
    const d = await svc.check(image({}), {}, undefined);
    host.failNext({ cmd: 'devfs', args: ['rule', '-s', '1000', 'add'] });
    await assert.rejects(svc.acquireForContainer('c1', d.composed), code('ERR_COMMAND_FAILED'));
    assert.deepEqual(svc.list(), []);
    assert.doesNotMatch((await host.run('devfs', ['rule', 'showsets'])).stdout.toString(), /^1000$/m);
  });

  test('reconcile with showsets: reloads what the kernel lost, deletes strays in the range', async (t) => {
    const host = new SimulatedFreeBSDHost();
    const { svc, reopen } = setup(t, { os: 'freebsd', runner: host });
    const d = await svc.check(image({}), {}, undefined);
    await svc.acquireForContainer('c1', d.composed);
    // the kernel lost 1000 (a reboot) and has a stray 1003 from a crash
    await host.run('devfs', ['rule', '-s', '1000', 'delset']);
    await host.run('devfs', ['rule', '-s', '1003', 'add', 'path', 'null', 'unhide']);
    const rec = await reopen().reconcile(['c1']);
    assert.deepEqual([rec.loaded, rec.removed], [[1000], [1003]]);
    const sets = (await host.run('devfs', ['rule', 'showsets'])).stdout.toString();
    assert.match(sets, /^1000$/m);
    assert.doesNotMatch(sets, /^1003$/m);
  });
});

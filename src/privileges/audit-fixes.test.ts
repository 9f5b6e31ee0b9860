// Fixes from the issue 4/5 audit: a start refusal's hint works with `brig start`; a --grant of
// nothing the run asks for is refused; limits without RACCT are refused at create.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { BrigError } from '../errors/errors.ts';
import { EventLog } from '../events/events.ts';
import { openDatabase } from '../metadata/db.ts';
import type { CommandRunner } from '../platform/exec.ts';
import { SimulatedFreeBSDHost } from '../platform/fake/index.ts';
import { parsePolicy, parsePrivileges } from '../policy/index.ts';
import { ContainerPrivileges } from './containers.ts';
import { type ImageFacts, PrivilegeService } from './service.ts';

const code = (c: string) => (e: unknown) => e instanceof BrigError && e.code === c;
const ROOT = { uid: 0, gid: 0, groups: [] };

function image(privileges: unknown): ImageFacts {
  return {
    ref: 'docker.io/library/app:1',
    digest: 'sha256:feed',
    brig: { privileges: parsePrivileges(privileges) },
  };
}

function service(
  t: TestContext,
  o: { policy?: unknown; os?: 'linux' | 'freebsd'; runner?: CommandRunner } = {},
) {
  const db = openDatabase(join(tempDir(t), 'brig.db'));
  t.after(() => db.close());
  return new PrivilegeService({
    policy: parsePolicy(o.policy ?? {}),
    db,
    events: new EventLog(db),
    os: o.os ?? 'linux',
    runner: o.runner ?? ({ run: () => assert.fail('no command expected') } as CommandRunner),
    adminGroups: [],
    resolveGroup: async () => undefined,
    inventory: () => [],
    ids: () => ({ users: { root: 0 }, groups: { root: 0 } }),
  });
}

test('a refusal at start says to recreate the container with --grant (start has no --grant)', async (t) => {
  const svc = service(t);
  const img = image({ allow: ['raw_sockets'] });
  const fixes = async (trusted: boolean) => {
    const e = await svc.check(img, {}, ROOT, { trusted }).catch((x: unknown) => x);
    assert.ok(code('ERR_PRIVILEGE_REFUSED')(e));
    const b = e as BrigError;
    return [b.message, ...(b.details!.refusals as Array<{ fix: string }>).map((r) => r.fix)];
  };
  for (const s of await fixes(false)) {
    assert.match(s, /or pass --grant allow\.raw_sockets/);
    assert.doesNotMatch(s, /recreate/);
  }
  for (const s of await fixes(true)) {
    assert.match(
      s,
      /add raw_sockets to policy\.allow, or recreate the container with --grant allow\.raw_sockets/,
    );
    assert.doesNotMatch(s, /pass --grant/);
  }
});

test('--grant of something neither the image nor the run asks for: ERR_GRANT_UNUSED', async (t) => {
  const svc = service(t, { policy: { allow: ['raw_sockets'] } });
  const img = image({ allow: ['raw_sockets'] });
  for (const grants of [
    ['allow.mlock'],
    ['devfs:path mem unhide'],
    ['allow.raw_sockets', 'vnet'],
    ['bind:/srv'],
  ])
    await assert.rejects(svc.check(img, { grants }, ROOT), code('ERR_GRANT_UNUSED'), grants.join());
  // requested (even when the policy already grants it), a larger children.max than asked, the run's bind and port
  assert.ok(await svc.check(img, { grants: ['allow.raw_sockets'] }, ROOT));
  const fbsd = service(t, { os: 'freebsd', runner: new SimulatedFreeBSDHost() });
  assert.ok(await fbsd.check(image({ childrenMax: 2 }), { grants: ['children.max=5'] }, ROOT));
  assert.ok(await svc.check(img, { grants: ['bind:/srv', 'port=80'], binds: ['/srv/a'], ports: [80] }, ROOT));
  // at start the stored values were accepted at create
  assert.ok(await svc.check(img, { grants: ['allow.mlock'] }, undefined, { trusted: true }));
});

test('FreeBSD without RACCT: --memory/--cpus/--pids-limit refused in beforeCreate; no limit runs nothing', async (t) => {
  const host = new SimulatedFreeBSDHost({ sysctl: { 'kern.racct.enable': '0' } });
  const privileges = new ContainerPrivileges(service(t, { os: 'freebsd', runner: host }));
  const img = { id: 'sha256:1', name: 'docker.io/library/app:1' };
  const spec = { env: [], mounts: [] };
  for (const limit of [{ memory: 64 * 2 ** 20 }, { cpus: 1 }, { pidsLimit: 5 }])
    await assert.rejects(
      privileges.beforeCreate(img, { ...spec, ...limit }, ROOT),
      code('ERR_RACCT_DISABLED'),
    );
  host.log.length = 0;
  assert.ok(await privileges.beforeCreate(img, spec, ROOT));
  assert.deepEqual(host.log, []);
  const on = new SimulatedFreeBSDHost({ sysctl: { 'kern.racct.enable': '1' } });
  const ok = new ContainerPrivileges(service(t, { os: 'freebsd', runner: on }));
  assert.ok(await ok.beforeCreate(img, { ...spec, pidsLimit: 5 }, ROOT));
});

test('FreeBSD: a bind with Linux propagation (shared, slave...) is refused before create; private passes', async (t) => {
  const host = new SimulatedFreeBSDHost();
  const fbsd = new ContainerPrivileges(
    service(t, { os: 'freebsd', runner: host, policy: { bindMounts: ['/srv/**'] } }),
  );
  const linux = new ContainerPrivileges(service(t, { policy: { bindMounts: ['/srv/**'] } }));
  const img = { id: 'sha256:1', name: 'docker.io/library/app:1' };
  const bind = (o: string) => ({ env: [], mounts: [{ kind: 'volume' as const, value: `/srv/a:/a:${o}` }] });
  for (const o of ['shared', 'rslave', 'ro,rshared'])
    await assert.rejects(fbsd.beforeCreate(img, bind(o), ROOT), code('ERR_UNSUPPORTED_PLATFORM'), o);
  for (const o of ['rprivate', 'ro', 'private']) assert.ok(await fbsd.beforeCreate(img, bind(o), ROOT), o);
  assert.ok(await linux.beforeCreate(img, bind('shared'), ROOT));
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { grantsArbOf, requestArbOf, subset, sysvipcModesArb } from '../../test/support/privileges-arb.ts';
import type { DeviceNode } from '../devfs/index.ts';
import { FreeBSDPlatform } from '../platform/freebsd/freebsd-platform.ts';
import { linuxSection } from '../platform/linux/linux-platform.ts';
import type { BundleInput, PrivilegeGrant } from '../platform/platform.ts';
import {
  type AllowName,
  defaultPolicy,
  LINUX_ALLOW,
  type Policy,
  parseGrant,
  parsePolicy,
  parsePrivileges,
  type RequestedPrivileges,
} from '../policy/index.ts';
import { decide, platformGrant } from './grant.ts';

const RULES = [
  "path 'bpf*' unhide",
  'path fuse unhide',
  "path 'tun*' unhide mode 0660",
  'path kvm unhide',
  'path mem unhide',
  'path sda hide',
  'unhide',
];
const ALLOWS: AllowName[] = [
  'raw_sockets',
  'mount.tmpfs',
  'mlock',
  'chflags',
  'reserved_ports',
  'settime',
  'adjtime',
];
const REFS = ['registry.example.org/infra/app:1', 'docker.io/library/alpine:3.20'];

const dev = (path: string, type: 'c' | 'b', major: number, minor: number): DeviceNode => ({
  path,
  type,
  major,
  minor,
  mode: 0o600,
  uid: 0,
  gid: 0,
});
const INVENTORY: DeviceNode[] = [
  dev('fuse', 'c', 10, 229),
  dev('kvm', 'c', 10, 232),
  dev('bpf0', 'c', 240, 0),
  dev('tun0', 'c', 241, 0),
  dev('mem', 'c', 1, 1),
  dev('kmem', 'c', 1, 2),
  dev('port', 'c', 1, 4),
  dev('sda', 'b', 8, 0),
  dev('crypto', 'c', 242, 0),
  dev('ttyS0', 'c', 4, 64),
  dev('ttyp0', 'c', 3, 0),
  dev('net/tun', 'c', 10, 200),
];

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    devfs: fc.record({
      grant: subset(RULES),
      close: subset(['path mem hide', 'path kmem hide', 'path fuse hide']),
    }),
    allow: subset(ALLOWS),
    sysvipc: sysvipcModesArb(),
    vnet: fc.boolean(),
    childrenMax: fc.integer({ min: 0, max: 3 }),
    securelevel: fc.integer({ min: -1, max: 3 }),
    images: fc.array(
      fc.record(
        {
          match: fc.constantFrom('registry.example.org/infra/*', 'nomatch/*'),
          allow: subset(ALLOWS),
          vnet: fc.boolean(),
        },
        { requiredKeys: ['match'] },
      ),
      { maxLength: 2 },
    ),
  })
  .map((raw) => parsePolicy(JSON.parse(JSON.stringify(raw))));
const requestArb = requestArbOf(RULES, ALLOWS);
const grantsArb = grantsArbOf(RULES, ALLOWS, ['vnet', 'children.max=2', 'securelevel=1']);

/** The request without the refused items. */
function withoutRefused(req: RequestedPrivileges, refused: readonly string[]): RequestedPrivileges {
  const items = refused.map(parseGrant);
  const sysvipc = { ...req.sysvipc };
  for (const i of items) if (i.kind === 'sysvipc') delete sysvipc[i.class];
  const securelevelRefused = items.some((i) => i.kind === 'securelevel');
  return {
    devfs: req.devfs.filter((r) => !items.some((i) => i.kind === 'devfs' && i.rule === r)),
    allow: req.allow.filter((a) => !items.some((i) => i.kind === 'allow' && i.name === a)),
    sysvipc,
    vnet: req.vnet && !items.some((i) => i.kind === 'vnet'),
    childrenMax: items.some((i) => i.kind === 'childrenMax') ? 0 : req.childrenMax,
    ...(req.securelevel !== undefined && !securelevelRefused ? { securelevel: req.securelevel } : {}),
  };
}

/**
 * The decision on `req`, and the one on `req` without the items that decision refused (the same
 * policy, image and grants).
 */
function decideWithoutRefused(req: RequestedPrivileges, policy: Policy, imageRef: string, grants: string[]) {
  const d = decide(req, policy, { imageRef, grants });
  const refused = d.refusals.map((r) => r.item);
  return { d, clean: decide(withoutRefused(req, refused), policy, { imageRef, grants }) };
}

/** A container's bundle input with grant `g` (the rest fixed). */
const bundleInput = (g: PrivilegeGrant): BundleInput => ({
  id: 'x'.repeat(64),
  daemonTag: 't',
  name: 'c',
  limits: {},
  grant: g,
  readOnlyRoot: false,
  terminal: false,
});

const bundleOf = (g: PrivilegeGrant): Record<string, unknown> => linuxSection(bundleInput(g), '/brig/x');

describe('a refused privilege never reaches the bundle', () => {
  test('Linux and FreeBSD grants equal those of the request without its refused items', () => {
    fc.assert(
      fc.property(requestArb, policyArb, grantsArb, fc.constantFrom(...REFS), (req, policy, grants, ref) => {
        const { d, clean } = decideWithoutRefused(req, policy, ref, grants);
        assert.deepEqual(clean.refusals, []);
        for (const os of ['linux', 'freebsd'] as const) {
          const host = { os, inventory: INVENTORY, rulesetNumber: 1000 };
          const g = platformGrant(d.grant, d.composed, host);
          assert.deepEqual(g, platformGrant(clean.grant, clean.composed, host), os);
          if (os === 'linux')
            assert.deepEqual(bundleOf(g), bundleOf(platformGrant(clean.grant, clean.composed, host)));
        }
        // And directly, item by item.
        const linux = platformGrant(d.grant, d.composed, { os: 'linux', inventory: INVENTORY });
        const bsd = platformGrant(d.grant, d.composed, { os: 'freebsd', rulesetNumber: 1000 });
        const grantedCaps = new Set(
          d.grant.allow.flatMap((a) =>
            a === 'chflags' && d.grant.securelevel >= 1 ? [] : (LINUX_ALLOW[a].caps ?? []),
          ),
        );
        if (d.grant.vnet) grantedCaps.add('CAP_NET_ADMIN');
        assert.deepEqual([...(linux.capabilities ?? [])].sort(), [...grantedCaps].sort());
        const middle = d.composed.canonical.split('\n');
        for (const r of d.refusals) {
          const item = parseGrant(r.item);
          if (item.kind === 'allow') {
            assert.ok(!bsd.allow?.includes(item.name), r.item);
            for (const cap of LINUX_ALLOW[item.name].caps ?? [])
              if (!grantedCaps.has(cap)) assert.ok(!linux.capabilities?.includes(cap), `${r.item} ${cap}`);
          }
          if (item.kind === 'devfs') {
            const imageRules = middle.slice(
              expandedLength(policy.devfs.open),
              middle.length - expandedLength(policy.devfs.close),
            );
            assert.ok(!imageRules.includes(item.rule), r.item);
          }
          if (item.kind === 'sysvipc') {
            assert.notEqual(bsd.sysvipc?.[item.class], item.mode);
            assert.notEqual(linux.sysvipc?.[item.class], item.mode);
          }
          if (item.kind === 'vnet')
            assert.ok(!bsd.vnet && !linux.vnet && !linux.capabilities?.includes('CAP_NET_ADMIN'));
          if (item.kind === 'childrenMax') assert.ok((bsd.childrenMax ?? 0) < item.value);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('FreeBSD bundle (jail annotations, devfs mount): the same without the refused items', async () => {
    const platform = new FreeBSDPlatform({ runner: { run: () => assert.fail('no command expected') } });
    const section = (g: PrivilegeGrant) => platform.bundleSection(bundleInput(g));
    await fc.assert(
      fc.asyncProperty(
        requestArb,
        policyArb,
        grantsArb,
        fc.constantFrom(...REFS),
        async (req, policy, grants, ref) => {
          const { d, clean } = decideWithoutRefused(req, policy, ref, grants);
          const host = { os: 'freebsd' as const, rulesetNumber: 1000 };
          const b = await section(platformGrant(d.grant, d.composed, host));
          assert.deepEqual(b, await section(platformGrant(clean.grant, clean.composed, host)));
          for (const r of d.refusals) {
            const item = parseGrant(r.item);
            if (item.kind === 'allow')
              assert.equal(b.annotations[`org.freebsd.jail.allow.${item.name}`], undefined, r.item);
            if (item.kind === 'vnet') assert.equal(b.annotations['org.freebsd.jail.vnet'], 'inherit');
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  test('a close rule hides a device even when the image asks for it and the policy grants it', () => {
    const policy = parsePolicy({ devfs: { grant: ['path fuse unhide'], close: ['path fuse hide'] } });
    const req = parsePrivileges({ devfs: ['path fuse unhide'] });
    const d = decide(req, policy);
    assert.deepEqual(d.refusals, []);
    const g = platformGrant(d.grant, d.composed, { os: 'linux', inventory: INVENTORY });
    assert.ok(!g.devices?.some((x) => x.path === '/dev/fuse'));
    const open = decide(req, parsePolicy({ devfs: { grant: ['path fuse unhide'] } }));
    const g2 = platformGrant(open.grant, open.composed, { os: 'linux', inventory: INVENTORY });
    assert.deepEqual(
      g2.devices?.find((x) => x.path === '/dev/fuse'),
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600 },
    );
  });

  test('default policy: the basic devices, never mem/kmem/port or serial ports', () => {
    const d = decide(parsePrivileges({}), defaultPolicy);
    const g = platformGrant(d.grant, d.composed, { os: 'linux', inventory: INVENTORY });
    assert.deepEqual(
      g.devices?.map((x) => x.path),
      ['/dev/crypto', '/dev/ttyp0'],
    );
    assert.deepEqual(g.capabilities, ['CAP_NET_BIND_SERVICE']); // allow.reserved_ports, always granted
  });

  test('bind mounts and ports are refused with the rest, and --grant covers them', () => {
    const policy = parsePolicy({ bindMounts: ['/srv/*'], ports: ['8000-8999'] });
    const d = decide(parsePrivileges({ allow: ['raw_sockets'] }), policy, {
      binds: ['/srv/data/x', '/etc'],
      ports: [8080, 80],
    });
    assert.deepEqual(
      d.refusals.map((r) => r.item),
      ['allow.raw_sockets', 'bind:/etc', 'port=80'],
    );
    const g = decide(parsePrivileges({}), policy, {
      binds: ['/etc'],
      ports: [80],
      grants: ['bind:/etc', 'port=80'],
    });
    assert.deepEqual(g.refusals, []);
    assert.deepEqual(g.runOverrides, ['bind:/etc', 'port=80']);
  });
});

function expandedLength(rules: readonly string[]): number {
  return decide(parsePrivileges({}), parsePolicy({ devfs: { open: [...rules], close: [] } })).composed.rules
    .length;
}

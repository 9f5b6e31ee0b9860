import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import * as v from 'valibot';
import {
  grantsArbOf,
  MODES,
  requestArbOf,
  subset,
  sysvipcModesArb,
} from '../../test/support/privileges-arb.ts';
import { canonicalRule, compose, type DeviceNode, evaluate as evaluateDevices } from '../devfs/index.ts';
import { BrigError } from '../errors/errors.ts';
import {
  checkBindMount,
  checkPort,
  defaultPolicy,
  evaluate,
  imageMatches,
  type Policy,
  parsePolicy,
  policySchema,
  refusalError,
} from './policy.ts';
import {
  type AllowName,
  BASELINE_ALLOW,
  type PrivilegeItem,
  parseGrant,
  parsePrivileges,
  privilegeItems,
  SYSVIPC_CLASSES,
  spell,
} from './privileges.ts';

const REF = 'registry.example.org/infra/app:1.0';

describe('policy configuration', () => {
  test('an empty configuration works and grants nothing extra', () => {
    assert.deepEqual(parsePolicy(undefined), defaultPolicy);
    assert.deepEqual(parsePolicy(null), defaultPolicy);
    assert.deepEqual(v.parse(policySchema, {}), defaultPolicy);
    assert.deepEqual(defaultPolicy.allow, []);
    assert.deepEqual(defaultPolicy.devfs.grant, []);
    assert.equal(defaultPolicy.vnet, false);
    assert.equal(defaultPolicy.childrenMax, 0);
    assert.deepEqual(defaultPolicy.bindMounts, []);
    assert.deepEqual(defaultPolicy.devfs.rulesets, { first: 1000, max: 256 });
    assert.deepEqual(defaultPolicy.sysvipc, {
      msg: ['new', 'disable'],
      shm: ['new', 'disable'],
      sem: ['new', 'disable'],
    });
    // Defaults are fresh values: changing one parse does not change the next.
    const p = parsePolicy({});
    p.allow.push('mlock');
    assert.deepEqual(parsePolicy({}).allow, []);
  });

  test('the default devfs rules show basic and login devices, never memory, ports or serial lines', () => {
    const host: DeviceNode[] = [
      'null',
      'zero',
      'random',
      'urandom',
      'mem',
      'kmem',
      'port',
      'fuse',
      'ttyS0',
      'pts/0',
      'ptmx',
    ].map((path, i) => ({
      path,
      type: 'c',
      major: path.startsWith('pts') ? 136 : 1,
      minor: i,
      mode: 0o666,
      uid: 0,
      gid: 0,
    }));
    const { open, close } = defaultPolicy.devfs;
    const seen = (image: string[]) => evaluateDevices(compose(open, image, close), host).map((d) => d.path);
    assert.deepEqual(seen([]), ['null', 'ptmx', 'pts/0', 'random', 'urandom', 'zero']);
    assert.ok(seen(['path fuse unhide']).includes('fuse'));
    assert.ok(!seen(['unhide']).includes('mem'));
    assert.ok(!seen(['unhide']).includes('port'));
  });

  test('the example of design §7 parses', () => {
    const p = parsePolicy({
      devfs: {
        open: [
          'include $devfsrules_hide_all',
          'include $devfsrules_unhide_basic',
          'include $devfsrules_unhide_login',
        ],
        close: ["path 'mem' hide", "path 'kmem' hide"],
        grant: ["path 'fuse' unhide", "path 'tun*' unhide"],
        rulesets: { first: 1000, max: 64 },
      },
      allow: ['mount.tmpfs'],
      sysvipc: { msg: ['new', 'disable'], shm: ['new', 'disable'], sem: ['new', 'disable'] },
      vnet: true,
      childrenMax: 0,
      bindMounts: ['/srv/*'],
      ports: ['1024-65535'],
      images: [{ match: 'registry.example.org/infra/*', allow: ['raw_sockets'] }],
    });
    assert.deepEqual(p.images, [{ match: 'registry.example.org/infra/*', allow: ['raw_sockets'] }]);
    assert.equal(p.securelevel, -1);
    assert.deepEqual(parsePolicy({ ports: [8080, ' 80-81 '] }).ports, ['8080', '80-81']);
  });

  test('a wrong key is ERR_CONFIG_INVALID naming it', () => {
    const bad: [unknown, string][] = [
      [{ alow: [] }, 'policy.alow'],
      [{ allow: ['raw_socket'] }, 'policy.allow[0]'],
      [{ devfs: { close: ['path /dev/mem hide'] } }, 'policy.devfs.close[0]'],
      [{ devfs: { open: ['include 1000'] } }, 'policy.devfs.open[0]'],
      [{ devfs: { grant: ['add 100 path x unhide'] } }, 'policy.devfs.grant[0]'],
      [{ devfs: { rulesets: { first: 3 } } }, 'policy.devfs.rulesets.first'],
      [{ devfs: { rulesets: { first: 65000, max: 1000 } } }, 'policy.devfs.rulesets'],
      [{ sysvipc: { shm: ['shared'] } }, 'policy.sysvipc.shm[0]'],
      [{ securelevel: 5 }, 'policy.securelevel'],
      [{ childrenMax: -1 }, 'policy.childrenMax'],
      [{ ports: ['80-70'] }, 'policy.ports[0]'],
      [{ ports: [70000] }, 'policy.ports[0]'],
      [{ bindMounts: ['srv/*'] }, 'policy.bindMounts[0]'],
      [{ images: [{ allow: [] }] }, 'policy.images[0].match'],
      [{ images: [{ match: 'x/*', devfs: { close: [] } }] }, 'policy.images[0].devfs.close'],
    ];
    for (const [input, key] of bad)
      assert.throws(
        () => parsePolicy(input),
        (e: unknown) => e instanceof BrigError && e.code === 'ERR_CONFIG_INVALID' && e.details?.key === key,
        `${JSON.stringify(input)} -> ${key}`,
      );
  });
});

describe('image reference patterns', () => {
  test('* stays within a component, ** crosses them; tags and digests only when the pattern names one', () => {
    const cases: [string, string, boolean][] = [
      ['registry.example.org/infra/*', 'registry.example.org/infra/app:1.0', true],
      ['registry.example.org/infra/*', 'registry.example.org/infra/app', true],
      ['registry.example.org/infra/*', 'registry.example.org/infra/team/app:1', false],
      ['registry.example.org/infra/**', 'registry.example.org/infra/team/app:1', true],
      ['registry.example.org/infra/*', 'registry.example.org/infrastructure/app', false],
      ['registry.example.org/*/app', 'registry.example.org/infra/app@sha256:abc', true],
      ['docker.io/library/alpine:3.*', 'docker.io/library/alpine:3.20', true],
      ['docker.io/library/alpine:3.*', 'docker.io/library/alpine:edge', false],
      ['docker.io/library/alpine:3.*', 'docker.io/library/alpine@sha256:abc', false],
      ['localhost:5000/*', 'localhost:5000/app:1', true],
      ['localhost:5000/*', 'localhost:5001/app:1', false],
      ['*/app@sha256:abc', 'example.org/app:1@sha256:abc', true],
      ['*/app@sha256:abc', 'example.org/app:1', false],
      ['*', 'registry.example.org/infra/app', false],
    ];
    for (const [pattern, ref, want] of cases)
      assert.equal(imageMatches(pattern, ref), want, `${pattern} ~ ${ref}`);
  });
});

describe('evaluate', () => {
  test('an image that asks for nothing gets a plain container under the default policy', () => {
    const ev = evaluate(parsePrivileges(undefined), defaultPolicy, { imageRef: REF });
    assert.deepEqual(ev.refusals, []);
    assert.deepEqual(ev.granted, {
      items: [],
      overrides: [],
      devfs: [],
      allow: ['reserved_ports', 'suser'],
      sysvipc: { msg: 'new', shm: 'new', sem: 'new' },
      vnet: false,
      childrenMax: 0,
      securelevel: -1,
    });
    const strict = parsePolicy({ sysvipc: { msg: [], shm: ['new'], sem: [] } });
    assert.deepEqual(evaluate(parsePrivileges({}), strict).granted.sysvipc, {
      msg: 'disable',
      shm: 'new',
      sem: 'disable',
    });
  });

  test('refusals name the item, the key and the fix; per-image entries add', () => {
    const policy = parsePolicy({
      allow: ['mount.tmpfs'],
      devfs: { grant: ["path 'tun*' unhide"] },
      images: [
        { match: 'docker.io/*/*', allow: ['mlock'] },
        { match: 'nomatch.example/*', allow: ['raw_sockets'] },
        { match: 'registry.example.org/infra/*', sysvipc: { shm: ['inherit'] } },
      ],
    });
    const req = parsePrivileges({
      devfs: ["path 'tun*' unhide", "path 'bpf*' unhide", "path 'bpf0' hide"],
      allow: ['mount.tmpfs', 'raw_sockets', 'reserved_ports'],
      sysvipc: { msg: 'inherit', shm: 'inherit', sem: 'disable' },
      vnet: true,
      childrenMax: 2,
      securelevel: 3,
    });
    const ev = evaluate(req, policy, { imageRef: REF });
    assert.deepEqual(ev.matchedImages, [2]);
    assert.deepEqual(
      ev.refusals.map((r) => [r.item, r.policyKey]),
      [
        ["devfs:path 'bpf*' unhide", 'policy.images[2].devfs.grant'],
        ['allow.raw_sockets', 'policy.images[2].allow'],
        ['sysvipc.msg=inherit', 'policy.images[2].sysvipc.msg'],
        ['vnet', 'policy.images[2].vnet'],
        ['children.max=2', 'policy.images[2].childrenMax'],
      ],
    );
    assert.match(ev.refusals[1]!.fix, /--grant allow\.raw_sockets/);
    assert.match(ev.refusals[0]!.fix, /--grant "devfs:path 'bpf\*' unhide"/);
    assert.deepEqual(ev.granted.items, [
      "devfs:path 'tun*' unhide",
      'devfs:path bpf0 hide', // hiding takes away: never a privilege
      'allow.mount.tmpfs',
      'allow.reserved_ports',
      'sysvipc.shm=inherit',
      'sysvipc.sem=disable',
      'securelevel=3',
    ]);
    assert.deepEqual(ev.granted.devfs, ["path 'tun*' unhide", 'path bpf0 hide']);
    assert.deepEqual(
      ev.decisions.map((d) => [d.item, d.granted ? d.why : 'refused']),
      [
        ["devfs:path 'tun*' unhide", 'granted by policy.devfs.grant'],
        ["devfs:path 'bpf*' unhide", 'refused'],
        ['devfs:path bpf0 hide', 'always granted: hiding takes away'],
        ['allow.mount.tmpfs', 'granted by policy.allow'],
        ['allow.raw_sockets', 'refused'],
        ['allow.reserved_ports', 'always granted: a jail(8) default'],
        ['sysvipc.msg=inherit', 'refused'],
        ['sysvipc.shm=inherit', 'granted by policy.images[2].sysvipc.shm'],
        ['sysvipc.sem=disable', 'always granted: disable takes away'],
        ['vnet', 'refused'],
        ['children.max=2', 'refused'],
        ['securelevel=3', 'granted by policy.securelevel'],
      ],
    );
    assert.equal(ev.decisions[1]!.why, ev.refusals[0]!.reason);
    assert.deepEqual(ev.granted.sysvipc, { msg: 'new', shm: 'inherit', sem: 'disable' });
    const global = evaluate(req, policy, { imageRef: 'other.example/app' });
    assert.deepEqual(global.matchedImages, []);
    assert.equal(
      global.refusals.find((r) => r.item === 'sysvipc.shm=inherit')?.policyKey,
      'policy.sysvipc.shm',
    );
    assert.equal(global.refusals.find((r) => r.item === 'allow.raw_sockets')?.policyKey, 'policy.allow');
  });

  test('securelevel: higher is free, lower than the policy minimum is a privilege', () => {
    const policy = parsePolicy({ securelevel: 1 });
    const at = (securelevel: number, grants: string[] = []) =>
      evaluate(parsePrivileges({ securelevel }), policy, { grants });
    assert.equal(at(3).granted.securelevel, 3);
    assert.equal(at(1).granted.securelevel, 1);
    assert.deepEqual(
      at(0).refusals.map((r) => [r.item, r.policyKey]),
      [['securelevel=0', 'policy.securelevel']],
    );
    assert.equal(at(0).granted.securelevel, 1); // the refused value never reaches the grant
    assert.equal(at(-1, ['securelevel=0']).refusals.length, 1); // a grant of 0 does not cover -1
    assert.deepEqual(at(-1, ['securelevel=-1']).granted.overrides, ['securelevel=-1']);
    assert.equal(evaluate(parsePrivileges({}), policy).granted.securelevel, 1);
  });

  test('children.max: up to the policy is free, more is a privilege; --grant covers up to its value', () => {
    const policy = parsePolicy({ childrenMax: 2 });
    const ask = (childrenMax: number, grants: string[] = []) =>
      evaluate(parsePrivileges({ childrenMax }), policy, { grants });
    assert.equal(ask(2).granted.childrenMax, 2);
    assert.equal(ask(3).refusals[0]!.item, 'children.max=3');
    assert.equal(ask(3).granted.childrenMax, 0);
    assert.equal(ask(3, ['children.max=5']).granted.childrenMax, 3);
    assert.equal(ask(6, ['children.max=5']).refusals.length, 1);
  });

  test('--grant overrides one named privilege; unused and invalid grants', () => {
    const req = parsePrivileges({ allow: ['raw_sockets', 'mlock'], devfs: ['path "bpf*" unhide'] });
    const ev = evaluate(req, defaultPolicy, {
      grants: ['allow.raw_sockets', "devfs:path 'bpf*'   unhide", 'vnet'],
    });
    assert.deepEqual(ev.granted.overrides, ["devfs:path 'bpf*' unhide", 'allow.raw_sockets']);
    assert.deepEqual(
      ev.decisions.filter((d) => d.why === 'granted by --grant').map((d) => d.item),
      ev.granted.overrides,
    );
    assert.deepEqual(
      ev.refusals.map((r) => r.item),
      ['allow.mlock'],
    );
    assert.deepEqual(ev.unusedGrants, ['vnet']);
    assert.throws(
      () => evaluate(req, defaultPolicy, { grants: ['everything'] }),
      (e: unknown) => e instanceof BrigError && e.code === 'ERR_PRIVILEGE_INVALID',
    );
  });

  test('refusalError is ERR_PRIVILEGE_REFUSED with every refusal in its details', () => {
    const ev = evaluate(parsePrivileges({ allow: ['raw_sockets'], vnet: true }), defaultPolicy);
    const err = refusalError(ev.refusals, REF);
    assert.equal(err.code, 'ERR_PRIVILEGE_REFUSED');
    assert.deepEqual(
      (err.details!.refusals as { item: string }[]).map((r) => r.item),
      ['allow.raw_sockets', 'vnet'],
    );
  });
});

describe('bind mounts and ports', () => {
  const policy = parsePolicy({
    bindMounts: ['/srv/*', '/data/**/public'],
    ports: ['8000-8100', 443],
    images: [{ match: 'registry.example.org/infra/*', bindMounts: ['/var/log'], ports: ['514'] }],
  });

  test('a host path is permitted when it or a directory above it matches', () => {
    for (const ok of ['/srv/a', '/srv/a/b/c', '/srv/a/', '/srv/a/../b', '/data/x/y/public', '/data/public/z'])
      assert.equal(checkBindMount(ok, policy), undefined, ok);
    for (const no of ['/srv', '/etc', '/srv/../etc', '/data/x/private', '/var/log'])
      assert.ok(checkBindMount(no, policy), no);
    assert.equal(checkBindMount('/var/log/app', policy, REF), undefined);
    const r = checkBindMount('/etc', policy, REF)!;
    assert.deepEqual([r.item, r.policyKey], ['bind:/etc', 'policy.images[0].bindMounts']);
    assert.equal(checkBindMount('/etc/ssl', policy, undefined, ['bind:/etc']), undefined);
    assert.ok(checkBindMount('/etcetera', policy, undefined, ['bind:/etc']));
    assert.throws(
      () => checkBindMount('srv/a', policy),
      (e: unknown) => e instanceof BrigError && e.code === 'ERR_MOUNT_INVALID',
    );
    assert.ok(checkBindMount('/anything', defaultPolicy)); // nothing by default
  });

  test('a host port is permitted when a range holds it', () => {
    assert.equal(checkPort(8000, policy), undefined);
    assert.equal(checkPort(8100, policy), undefined);
    assert.equal(checkPort(443, policy), undefined);
    assert.deepEqual(
      [checkPort(8101, policy)?.item, checkPort(8101, policy)?.policyKey],
      ['port=8101', 'policy.ports'],
    );
    assert.equal(checkPort(514, policy, REF), undefined);
    assert.ok(checkPort(514, policy));
    assert.equal(checkPort(80, policy, undefined, ['port=80']), undefined);
    assert.equal(checkPort(8080, defaultPolicy), undefined);
    assert.ok(checkPort(80, defaultPolicy));
    assert.throws(
      () => checkPort(0, policy),
      (e: unknown) => e instanceof BrigError && e.code === 'ERR_INVALID_ARGUMENT',
    );
  });
});

describe('evaluation properties', () => {
  const RULES = [
    "path 'bpf*' unhide",
    'path fuse unhide',
    "path 'tun*' unhide mode 0660",
    'path kvm unhide',
    'path sda hide',
    'unhide',
  ];
  const ALLOWS: AllowName[] = [
    'raw_sockets',
    'mount.tmpfs',
    'mlock',
    'chflags',
    'reserved_ports',
    'vmm',
    'set_hostname',
  ];
  const REFS = [
    'registry.example.org/infra/app:1',
    'docker.io/library/alpine:3.20',
    'example.org/x@sha256:abc',
  ];
  const MATCHES = [
    'registry.example.org/infra/*',
    'docker.io/library/*',
    '*/x@sha256:abc',
    'nomatch/*',
    'registry.example.org/**',
  ];

  const overlay = fc.record(
    {
      match: fc.constantFrom(...MATCHES),
      devfs: fc.record({ grant: subset(RULES) }),
      allow: subset(ALLOWS),
      sysvipc: fc.record(
        { msg: subset(MODES), shm: subset(MODES), sem: subset(MODES) },
        { requiredKeys: [] },
      ),
      vnet: fc.boolean(),
      childrenMax: fc.integer({ min: 0, max: 3 }),
      securelevel: fc.integer({ min: -1, max: 3 }),
    },
    { requiredKeys: ['match'] },
  );
  const policyArb: fc.Arbitrary<Policy> = fc
    .record({
      devfs: fc.record({ grant: subset(RULES) }),
      allow: subset(ALLOWS),
      sysvipc: sysvipcModesArb(),
      vnet: fc.boolean(),
      childrenMax: fc.integer({ min: 0, max: 3 }),
      securelevel: fc.integer({ min: -1, max: 3 }),
      images: fc.array(overlay, { maxLength: 3 }),
    })
    .map((raw) => parsePolicy(JSON.parse(JSON.stringify(raw))));
  const requestArb = requestArbOf(RULES, ALLOWS);
  const grantsArb = grantsArbOf(RULES, ALLOWS, [
    'vnet',
    'children.max=2',
    'children.max=5',
    'securelevel=-1',
    'securelevel=1',
  ]);

  /** An independent statement of "the policy permits this item for this image". */
  function oracle(item: PrivilegeItem, p: Policy, ref: string): boolean {
    const m = p.images.filter((e) => imageMatches(e.match, ref));
    switch (item.kind) {
      case 'devfs':
        return item.rule.endsWith(' hide') && !item.rule.includes(' mode ')
          ? true
          : [...p.devfs.grant, ...m.flatMap((e) => e.devfs?.grant ?? [])]
              .map(canonicalRule)
              .includes(item.rule);
      case 'allow':
        return (
          BASELINE_ALLOW.includes(item.name) ||
          [...p.allow, ...m.flatMap((e) => e.allow ?? [])].includes(item.name)
        );
      case 'sysvipc':
        return (
          item.mode === 'disable' ||
          [...p.sysvipc[item.class], ...m.flatMap((e) => e.sysvipc?.[item.class] ?? [])].includes(item.mode)
        );
      case 'vnet':
        return p.vnet || m.some((e) => e.vnet === true);
      case 'childrenMax':
        return item.value <= Math.max(p.childrenMax, ...m.map((e) => e.childrenMax ?? 0));
      case 'securelevel':
        return item.value >= Math.min(p.securelevel, ...m.map((e) => e.securelevel ?? 3));
      default:
        return false;
    }
  }

  function namedByGrant(item: PrivilegeItem, grants: string[]): boolean {
    return grants.map(parseGrant).some((g) => {
      if (item.kind === 'childrenMax') return g.kind === 'childrenMax' && g.value >= item.value;
      if (item.kind === 'securelevel') return g.kind === 'securelevel' && g.value <= item.value;
      return spell(g) === spell(item);
    });
  }

  test('granted ∪ refused = requested; everything granted is permitted or named by --grant; nothing refused is granted', () => {
    fc.assert(
      fc.property(requestArb, policyArb, grantsArb, fc.constantFrom(...REFS), (req, policy, grants, ref) => {
        const ev = evaluate(req, policy, { imageRef: ref, grants });
        const items = privilegeItems(req);
        const spelled = items.map(spell);
        // The partition: each requested item is either granted or refused, once, in order.
        const granted = new Set(ev.granted.items);
        const refused = new Set(ev.refusals.map((r) => r.item));
        assert.deepEqual(
          spelled.filter((s) => granted.has(s) || refused.has(s)),
          spelled,
        );
        assert.deepEqual(
          [...ev.granted.items, ...ev.refusals.map((r) => r.item)].sort(),
          [...spelled].sort(),
        );
        for (const s of spelled) assert.ok(!(granted.has(s) && refused.has(s)), s);
        // Every grant is justified: by policy (oracle) or by a --grant naming it.
        for (const item of items) {
          const s = spell(item);
          const permitted = oracle(item, policy, ref);
          const named = namedByGrant(item, grants);
          assert.equal(granted.has(s), permitted || named, `${s} permitted=${permitted} named=${named}`);
          assert.equal(ev.granted.overrides.includes(s), !permitted && named, `override ${s}`);
        }
        // What the runtimes see holds nothing refused.
        for (const r of ev.refusals) {
          const item = parseGrant(r.item);
          if (item.kind === 'devfs') assert.ok(!ev.granted.devfs.includes(item.rule));
          if (item.kind === 'allow') assert.ok(!ev.granted.allow.includes(item.name));
          if (item.kind === 'sysvipc') assert.notEqual(ev.granted.sysvipc[item.class], item.mode);
          if (item.kind === 'vnet') assert.equal(ev.granted.vnet, false);
          if (item.kind === 'childrenMax') assert.ok(ev.granted.childrenMax < item.value);
          if (item.kind === 'securelevel') assert.notEqual(ev.granted.securelevel, item.value);
          assert.match(r.fix, /--grant /);
          assert.match(r.policyKey, /^policy\.(images\[\d+\]\.)?[a-zA-Z.]+$/);
        }
        // Unrequested defaults are within the policy too.
        for (const c of SYSVIPC_CLASSES)
          if (req.sysvipc[c] === undefined) {
            const mode = ev.granted.sysvipc[c];
            assert.ok(oracle({ kind: 'sysvipc', class: c, mode }, policy, ref), `${c}=${mode}`);
          }
        for (const a of ev.granted.allow)
          assert.ok(BASELINE_ALLOW.includes(a) || ev.granted.items.includes(`allow.${a}`), a);
      }),
      { numRuns: 400 },
    );
  });
});

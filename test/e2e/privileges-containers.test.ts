/**
 * Privileges with real containers (built brigd, runc/crun under conmon, the busybox fixture):
 * refusal before anything is created, grants by policy and by --grant (with its event), devices
 * (/dev/fuse granted, absent, hidden by a close rule), capabilities (allow.raw_sockets ->
 * CAP_NET_RAW), and devfs ruleset allocation: sharing, release, exhaustion, daemon restart.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { BrigClient } from '../../src/client/client.ts';
import { BrigError } from '../../src/errors/errors.ts';
import { startDaemon, type TestDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { importPrivileged, makeUser, runSh } from './privileges-support.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'ss', 'umoci'] });
const CAP_NET_RAW = 13n;

interface View {
  id: string;
  state: string;
}

const create = (c: BrigClient, body: Record<string, unknown>) =>
  c.request<View>('POST', '/containers', { body });
const rm = (c: BrigClient, id: string) => c.request('DELETE', `/containers/${id}`, { query: { force: '1' } });

async function refusal(p: Promise<unknown>): Promise<BrigError> {
  const e = await p.then(
    () => assert.fail('expected a refusal'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof BrigError, String(e));
  return e;
}

const devfsLs = async (d: TestDaemon) =>
  JSON.parse((await d.brig(['devfs', 'ls', '--json'])).stdout) as Array<{
    number: number;
    containers: string[];
  }>;

describe('privileges with real containers', { concurrency: false }, () => {
  test(
    'refused before anything is created: every refusal with its fix; missing parameters named',
    needs,
    async (t) => {
      const d = await startDaemon(t);
      await importPrivileged(
        t,
        d,
        'greedy:1',
        { allow: ['raw_sockets'], devfs: ['path fuse unhide'], vnet: true },
        {
          parameters: { TOKEN: { description: 'the API token', required: true } },
          volumes: { data: { destination: '/data', description: 'the state', required: true } },
        },
      );
      const e = await refusal(
        create(d.client, {
          image: 'greedy:1',
          command: ['true'],
          env: ['TOKEN=x'],
          mounts: [{ kind: 'tmpfs', value: '/data' }],
        }),
      );
      assert.equal(e.code, 'ERR_PRIVILEGE_REFUSED');
      const refusals = (e.details as { refusals: Array<{ item: string; policyKey: string; fix: string }> })
        .refusals;
      assert.deepEqual(
        refusals.map((r) => [r.item, r.policyKey]),
        [
          ['devfs:path fuse unhide', 'policy.devfs.grant'],
          ['allow.raw_sockets', 'policy.allow'],
          ['vnet', 'policy.vnet'],
        ],
      );
      for (const r of refusals) assert.match(r.fix, /--grant/);
      // the CLI: exit 125, every refusal listed with its fix (run and create alike)
      for (const verb of [['run', '--rm'], ['create']]) {
        const cli = await d.brig([...verb, '-e', 'TOKEN=x', '--tmpfs', '/data', 'greedy:1', 'true']);
        assert.equal(cli.code, 125, cli.stderr);
        for (const r of refusals)
          assert.ok(cli.stderr.includes(`${r.item}: `) && cli.stderr.includes(r.fix), cli.stderr);
      }
      const missing = await refusal(create(d.client, { image: 'greedy:1', command: ['true'] }));
      assert.equal(missing.code, 'ERR_PARAMETER_MISSING');
      assert.deepEqual(
        (missing.details as { missing: Array<{ name: string; description: string }> }).missing.map((m) => [
          m.name,
          m.description,
        ]),
        [
          ['TOKEN', 'the API token'],
          ['data', 'the state'],
        ],
      );
      // nothing was created: no record, no container directory, no ruleset
      assert.deepEqual(await d.client.request('GET', '/containers', { query: { all: '1' } }), []);
      const dir = join(d.root, 'containers');
      assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
      assert.deepEqual(await devfsLs(d), []);
    },
  );

  test('policy grants, --grant overrides (with its event), devices and capabilities', needs, async (t) => {
    const d = await startDaemon(t, { config: { policy: { devfs: { grant: ['path fuse unhide'] } } } });
    await importPrivileged(t, d, 'fuse:1', { devfs: ['path fuse unhide'] });
    await importPrivileged(t, d, 'plain:1', {});
    await importPrivileged(t, d, 'raw:1', { allow: ['raw_sockets'] });
    const fuse = await runSh(d, 'fuse:1', 'test -c /dev/fuse && exec 3<>/dev/fuse && echo opened');
    assert.deepEqual([fuse.exitCode, fuse.out.trim()], [0, 'opened']);
    const plain = await runSh(
      d,
      'plain:1',
      'test -e /dev/fuse && echo present || echo absent; grep ^CapEff /proc/self/status',
    );
    assert.match(plain.out, /^absent$/m);
    const capsOf = (out: string) => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(out)![1]}`);
    assert.equal((capsOf(plain.out) >> CAP_NET_RAW) & 1n, 0n);

    // raw_sockets is not granted here: refused, then --grant by root (an administrator)
    assert.equal(
      (await refusal(create(d.client, { image: 'raw:1', command: ['true'] }))).code,
      'ERR_PRIVILEGE_REFUSED',
    );
    const raw = await runSh(d, 'raw:1', 'grep ^CapEff /proc/self/status', { grants: ['allow.raw_sockets'] });
    assert.equal((capsOf(raw.out) >> CAP_NET_RAW) & 1n, 1n);
    const cli = await d.brig([
      'run',
      '--rm',
      '--grant',
      'allow.raw_sockets',
      'raw:1',
      'grep',
      '^CapEff',
      '/proc/self/status',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^CapEff:/m, JSON.stringify(cli));
    assert.equal((capsOf(cli.stdout) >> CAP_NET_RAW) & 1n, 1n);
    const events: Array<{ type: string; action: string; attributes: Record<string, string> }> = [];
    for await (const e of d.client.lines<(typeof events)[0]>('GET', '/events', {
      query: { filter: ['type=policy'] },
    }))
      events.push(e);
    // every container above was removed (rm, --rm): no ruleset is left
    assert.deepEqual(await devfsLs(d), []);
    const inspect = await d.client.request<{ id: string }>('GET', '/images/raw:1/json');
    assert.deepEqual(
      events.map((e) => [
        e.action,
        e.attributes.privilege,
        e.attributes.imageDigest,
        e.attributes.uid,
        e.attributes.user,
      ]),
      [
        ['grant', 'allow.raw_sockets', inspect.id, '0', 'root'],
        ['grant', 'allow.raw_sockets', inspect.id, '0', 'root'],
      ],
    );
  });

  test(
    'create --grant: refused for a non-root user (nothing created), allowed for admin.groups',
    requires({
      root: true,
      linux: true,
      commands: ['runc', 'conmon', 'ss', 'umoci', 'setpriv', 'useradd', 'usermod', 'groupadd'],
    }),
    async (t) => {
      const plain = makeUser(t, ['sock', 'adm'], ['sock']);
      const admin = makeUser(t, [], []);
      const { execFileSync } = await import('node:child_process');
      execFileSync('usermod', ['-a', '-G', `${plain.groups.sock},${plain.groups.adm}`, admin.name]);
      const d = await startDaemon(t, {
        config: { socket: { group: plain.groups.sock }, admin: { groups: [plain.groups.adm] } },
      });
      chmodSync(d.dir, 0o711);
      await importPrivileged(t, d, 'raw:1', { allow: ['raw_sockets'] });
      const body = { image: 'raw:1', command: ['true'], grants: ['allow.raw_sockets'] };
      const r = await plain.get(d.socket, '/containers', body);
      assert.deepEqual([r.status, r.body.error?.code], [403, 'ERR_GRANT_NOT_ALLOWED']);
      assert.deepEqual(await d.client.request('GET', '/containers', { query: { all: '1' } }), []);
      const ok = await admin.get(d.socket, '/containers', body);
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const events: Array<{ attributes: Record<string, string> }> = [];
      for await (const e of d.client.lines<(typeof events)[0]>('GET', '/events', {
        query: { filter: ['type=policy'] },
      }))
        events.push(e);
      assert.deepEqual(
        events.map((e) => [e.attributes.privilege, e.attributes.uid, e.attributes.user]),
        [['allow.raw_sockets', String(admin.uid), admin.name]],
      );
      await rm(d.client, (ok.body as unknown as { id: string }).id);
    },
  );

  test(
    'a close rule hides a device even when the image asks for it and the policy grants it',
    needs,
    async (t) => {
      const d = await startDaemon(t, {
        config: {
          policy: {
            devfs: {
              grant: ['path fuse unhide'],
              close: ['path mem hide', 'path kmem hide', 'path fuse hide'],
            },
          },
        },
      });
      await importPrivileged(t, d, 'fuse:1', { devfs: ['path fuse unhide'] });
      const r = await runSh(d, 'fuse:1', 'test -e /dev/fuse && echo present || echo absent');
      assert.deepEqual([r.exitCode, r.out.trim()], [0, 'absent']);
    },
  );

  test(
    '200 containers over 3 privilege sets use 3 rulesets, none after removal; the mapping survives a restart',
    needs,
    async (t) => {
      const d = await startDaemon(t, {
        config: { policy: { devfs: { grant: ['path fuse unhide', 'path kvm unhide'] } } },
      });
      await importPrivileged(t, d, 'a:1', {});
      await importPrivileged(t, d, 'b:1', { devfs: ['path fuse unhide'] });
      await importPrivileged(t, d, 'c:1', { devfs: ['path kvm unhide'] });
      const ids: string[] = [];
      for (let i = 0; i < 200; i++)
        ids.push((await create(d.client, { image: ['a:1', 'b:1', 'c:1'][i % 3], command: ['true'] })).id);
      const sets = await devfsLs(d);
      assert.deepEqual(
        sets.map((s) => [s.number, s.containers.length]),
        [
          [1000, 67],
          [1001, 67],
          [1002, 66],
        ],
      );
      assert.deepEqual(sets.flatMap((s) => s.containers).sort(), [...ids].sort());
      await d.stop();
      await d.restart();
      assert.deepEqual(await devfsLs(d), sets);
      for (const id of ids) await rm(d.client, id);
      assert.deepEqual(await devfsLs(d), []);
    },
  );

  test('exhaustion: ERR_DEVFS_RULESETS_EXHAUSTED, and the failed create leaves nothing', needs, async (t) => {
    const d = await startDaemon(t, {
      config: {
        policy: {
          devfs: { grant: ['path fuse unhide', 'path kvm unhide'], rulesets: { first: 1500, max: 2 } },
        },
      },
    });
    await importPrivileged(t, d, 'a:1', {});
    await importPrivileged(t, d, 'b:1', { devfs: ['path fuse unhide'] });
    await importPrivileged(t, d, 'c:1', { devfs: ['path kvm unhide'] });
    const a = await create(d.client, { image: 'a:1', command: ['true'] });
    const b = await create(d.client, { image: 'b:1', command: ['true'] });
    const before = await devfsLs(d);
    assert.equal(
      (await refusal(create(d.client, { image: 'c:1', command: ['true'] }))).code,
      'ERR_DEVFS_RULESETS_EXHAUSTED',
    );
    assert.deepEqual(await devfsLs(d), before);
    const all = await d.client.request<View[]>('GET', '/containers', { query: { all: '1' } });
    assert.deepEqual(all.map((c) => c.id).sort(), [a.id, b.id].sort());
    assert.deepEqual(readdirSync(join(d.root, 'containers')).sort(), [a.id, b.id].sort());
    // sharing still works when full, and removing one frees a number
    await rm(d.client, (await create(d.client, { image: 'a:1', command: ['true'] })).id);
    await rm(d.client, b.id);
    const c = await create(d.client, { image: 'c:1', command: ['true'] });
    assert.deepEqual(
      (await devfsLs(d)).map((s) => s.number),
      [1500, 1501],
    );
    await rm(d.client, a.id);
    await rm(d.client, c.id);
  });
});

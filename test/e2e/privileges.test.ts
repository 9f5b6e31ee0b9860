/**
 * Privileges end to end (built daemon and CLI): image explain, --grant only for administrators
 * (the caller found from the socket's peer, run as a real non-root user), devfs ls, and the
 * policy validated at start-up.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BRIGD, childEnv, startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { layoutWithBrig, makeUser } from './privileges-support.ts';

const BRIG_SECTION = {
  version: 1,
  description: 'A test service',
  entrypoints: {
    main: {
      args: ['/bin/sh', '-c', 'echo $GREETING'],
      usage: 'brig run IMAGE [main]',
      description: 'greets',
    },
  },
  defaultEntrypoint: 'main',
  parameters: {
    GREETING: { description: 'what to say', required: true },
    TOKEN: { description: 'the API token', secret: true, default: 's3cr3t-default' },
  },
  volumes: { data: { destination: '/data', description: 'state', required: true } },
  ports: { '8080/tcp': { description: 'HTTP API' } },
  privileges: { allow: ['raw_sockets'], devfs: ['path fuse unhide'], sysvipc: { shm: 'new' } },
};

describe('brig image explain', () => {
  test('what the image is, how to run it, and the policy decision per privilege', async (t) => {
    const d = await startDaemon(t, { config: { policy: { devfs: { grant: ['path fuse unhide'] } } } });
    const layout = layoutWithBrig(t, BRIG_SECTION);
    assert.equal((await d.brig(['image', 'import', layout, 'example.org/svc:1'])).code, 0);
    const human = await d.brig(['image', 'explain', 'example.org/svc:1']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^Image: +example\.org\/svc:1$/m);
    assert.match(human.stdout, /^ {2}main \(default\): \/bin\/sh -c echo \$GREETING$/m);
    assert.match(human.stdout, /^ {6}usage: brig run IMAGE \[main\]$/m);
    assert.match(human.stdout, /^ {2}GREETING \[required\]: what to say$/m);
    assert.match(human.stdout, /^ {2}TOKEN \[secret\] \(default: \*+\): the API token$/m);
    assert.match(human.stdout, /^ {2}data at \/data \[required\]: state$/m);
    assert.match(human.stdout, /^ {2}8080\/tcp: HTTP API$/m);
    assert.match(human.stdout, /^ {2}granted {2}devfs:path fuse unhide: granted by policy\.devfs\.grant$/m);
    assert.match(
      human.stdout,
      /^ {2}REFUSED {2}allow\.raw_sockets: allow\.raw_sockets is not in policy\.allow$/m,
    );
    assert.match(human.stdout, /^ {2}granted {2}sysvipc\.shm=new: granted by policy\.sysvipc\.shm$/m);
    assert.ok(!human.stdout.includes('s3cr3t'));

    const json = await d.brig(['image', 'explain', '--json', 'example.org/svc:1']);
    const e = JSON.parse(json.stdout);
    assert.deepEqual(e.names, ['example.org/svc:1']);
    assert.equal(e.runnable, false);
    assert.deepEqual(
      e.privileges.map((p: { item: string; granted: boolean }) => [p.item, p.granted]),
      [
        ['devfs:path fuse unhide', true],
        ['allow.raw_sockets', false],
        ['sysvipc.shm=new', true],
      ],
    );
    assert.ok(!json.stdout.includes('s3cr3t'));
    // root may ask how a run with --grant would go
    const granted = JSON.parse(
      (await d.brig(['image', 'explain', '--json', '--grant', 'allow.raw_sockets', 'example.org/svc:1']))
        .stdout,
    );
    assert.equal(granted.runnable, true);
    assert.equal(granted.privileges[1].why, 'granted by --grant');
    assert.equal(
      (await d.brig(['image', 'explain', '--grant', 'allow.nonsense', 'example.org/svc:1'])).code,
      125,
    );
  });
});

describe('--grant is for administrators only', () => {
  test(
    'a non-root user is refused; a member of admin.groups and root are allowed',
    requires({ root: true, commands: ['setpriv', 'useradd', 'usermod', 'groupadd', 'ss'], linux: true }),
    async (t) => {
      const plain = makeUser(t, ['sock', 'adm'], ['sock']);
      const admin = makeUser(t, ['sock2'], ['sock2']);
      // admin is in plain's `adm` group too
      const { execFileSync } = await import('node:child_process');
      execFileSync('usermod', ['-a', '-G', plain.groups.adm!, admin.name]);
      execFileSync('usermod', ['-a', '-G', plain.groups.sock!, admin.name]);
      const d = await startDaemon(t, {
        config: { socket: { group: plain.groups.sock }, admin: { groups: [plain.groups.adm] } },
      });
      chmodSync(d.dir, 0o711);
      const layout = layoutWithBrig(t, BRIG_SECTION);
      assert.equal((await d.brig(['image', 'import', layout, 'svc:1'])).code, 0);
      const path = '/images/svc%3A1/explain?grant=allow.raw_sockets';

      // without --grant any socket user may explain
      assert.equal((await plain.brig(d.socket, ['image', 'explain', 'svc:1'])).code, 0);
      const refused = await plain.brig(d.socket, [
        'image',
        'explain',
        '--grant',
        'allow.raw_sockets',
        'svc:1',
      ]);
      assert.equal(refused.code, 125, refused.stderr);
      const r = await plain.get(d.socket, path);
      assert.deepEqual([r.status, r.body.error?.code], [403, 'ERR_GRANT_NOT_ALLOWED']);

      const ok = await admin.get(d.socket, path);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const cli = await admin.brig(d.socket, [
        'image',
        'explain',
        '--json',
        '--grant',
        'allow.raw_sockets',
        'svc:1',
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(JSON.parse(cli.stdout).privileges[1].why, 'granted by --grant');
      assert.equal((await d.brig(['image', 'explain', '--grant', 'allow.raw_sockets', 'svc:1'])).code, 0);
    },
  );
});

describe('policy configuration and devfs ls', () => {
  test('an unknown policy key stops brigd at start; devfs ls lists nothing on a fresh daemon', async (t) => {
    // brigd refuses to start (exit status 1, the key named), and leaves no socket behind
    const refuse = (policy: unknown, key: RegExp) => {
      const dir = tempDir(t);
      writeFileSync(join(dir, 'brig.yaml'), JSON.stringify({ policy }));
      const r = spawnSync(
        process.execPath,
        [BRIGD, '--root', join(dir, 'root'), '--socket', join(dir, 's'), '--config', join(dir, 'brig.yaml')],
        {
          env: childEnv(),
          encoding: 'utf8',
        },
      );
      assert.notEqual(r.status, 0, r.stderr);
      assert.match(r.stderr + r.stdout, key);
      assert.ok(!existsSync(join(dir, 's')));
    };
    refuse({ allow: ['raw_sockets'], alow: [] }, /policy\.alow/);
    refuse({ allow: ['no_such_thing'] }, /no_such_thing/);
    const d = await startDaemon(t, { config: { policy: { devfs: { rulesets: { first: 3000, max: 4 } } } } });
    const ls = await d.brig(['devfs', 'ls', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(JSON.parse(ls.stdout), []);
    assert.match((await d.brig(['devfs', 'ls'])).stdout, /^RULESET +HASH +RULES +CONTAINERS +USED BY\s*$/);
  });
});

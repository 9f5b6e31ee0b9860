/**
 * The built brigd and brig with `--platform freebsd-simulated` on a host without RACCT:
 * `brig create --pids-limit` and `brig run --memory` fail with ERR_RACCT_DISABLED at create and
 * leave nothing (no container, no devfs ruleset, the simulated host unchanged); a run without
 * limits still works. Also the create-time refusals of --cpus/--memory lower bounds, a bad
 * --hostname and a --grant of nothing the image requests. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

test('freebsd-simulated without RACCT: limits refused at create, nothing left behind', async (t) => {
  const dir = tempDir(t, 'brig-fbsd-racct-');
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'sh'), '#!fake\n', { mode: 0o755 });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\n');
  const d = await startDaemon(t, { platform: 'freebsd-simulated' });
  const hostFile = join(d.root, 'freebsd-simulated', 'host.json');
  assert.equal((await d.brig(['image', 'import', rootfs, 'plain:1'])).code, 0);
  await d.stop();
  const state = JSON.parse(readFileSync(hostFile, 'utf8')) as { sysctl: Record<string, string> };
  state.sysctl['kern.racct.enable'] = '0';
  writeFileSync(hostFile, JSON.stringify(state));
  await d.restart();
  const before = readFileSync(hostFile, 'utf8');

  const refused = async (body: Record<string, unknown>) =>
    d.client
      .request('POST', '/containers', { body: { image: 'plain:1', command: ['/bin/sh'], ...body } })
      .then(
        () => 'created',
        (e: { code: string }) => e.code,
      );
  assert.equal(await refused({ pidsLimit: 5 }), 'ERR_RACCT_DISABLED');
  assert.equal(await refused({ memory: 64 * 2 ** 20 }), 'ERR_RACCT_DISABLED');
  for (const args of [
    ['create', '--name', 'c2', '--pids-limit', '5', 'plain:1', '/bin/sh'],
    ['run', '-d', '--name', 'r1', '--memory', '64m', 'plain:1', '/bin/sh'],
  ]) {
    const r = await d.brig(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, /kern\.racct\.enable/);
  }
  // refused on every platform, before anything exists
  assert.equal(await refused({ cpus: 0.001 }), 'ERR_INVALID_ARGUMENT');
  assert.equal(await refused({ memory: 1 }), 'ERR_INVALID_ARGUMENT');
  assert.equal(await refused({ hostname: 'a'.repeat(300) }), 'ERR_INVALID_ARGUMENT');
  assert.equal(await refused({ grants: ['allow.raw_sockets'] }), 'ERR_GRANT_UNUSED');
  const g = await d.brig(['run', '-d', '--grant', 'allow.raw_sockets', 'plain:1', '/bin/sh']);
  assert.notEqual(g.code, 0);
  assert.match(g.stderr, /allow\.raw_sockets/);

  assert.equal((await d.brig(['ps', '-a', '-q'])).stdout.trim(), '');
  assert.deepEqual(JSON.parse((await d.brig(['devfs', 'ls', '--json'])).stdout), []);
  assert.equal(readFileSync(hostFile, 'utf8'), before);

  // without limits the container is created
  assert.equal(await refused({}), 'created');
});

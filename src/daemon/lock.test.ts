import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { acquireRootLock } from './lock.ts';

test('a root is locked once: a second acquisition, even racing the first, is ERR_DAEMON_RUNNING', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'brigd.pid'), '999999\n'); // stale, as a crash leaves it
  const results = await Promise.allSettled([acquireRootLock(root), acquireRootLock(root)]);
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const refused = results.find((r) => r.status === 'rejected')!;
  assert.ok(isBrigError(refused.reason, 'ERR_DAEMON_RUNNING'), String(refused.reason));
  assert.equal(readFileSync(join(root, 'brigd.pid'), 'utf8').trim(), String(process.pid));
  const release = (
    results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<() => Promise<void>>
  ).value;
  await assert.rejects(acquireRootLock(root), (e) => isBrigError(e, 'ERR_DAEMON_RUNNING'));
  await release();
  assert.equal(existsSync(join(root, 'brigd.pid')), false);
  // released: taken again
  await (await acquireRootLock(root))();
});

test('another process is refused while the lock is held, and gets it once it is released', async (t) => {
  const root = tempDir(t);
  const probe = () =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import(${JSON.stringify(new URL('./lock.ts', import.meta.url).href)}).then((m) => m.acquireRootLock(${JSON.stringify(root)})).then((r) => r().then(() => console.log('held')), (e) => console.log(e.code))`,
      ],
      { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } },
    );
  const release = await acquireRootLock(root);
  assert.equal(probe().stdout.trim(), 'ERR_DAEMON_RUNNING');
  await release();
  assert.equal(probe().stdout.trim(), 'held');
});

test('brigd.pid is information only: a live unrelated pid in it does not block the lock', async (t) => {
  for (const pid of [1, process.ppid, process.pid]) {
    const root = tempDir(t);
    writeFileSync(join(root, 'brigd.pid'), `${pid}\n`);
    const release = await acquireRootLock(root);
    assert.equal(readFileSync(join(root, 'brigd.pid'), 'utf8').trim(), String(process.pid));
    await release();
  }
});

test('an unusable lock file is ERR_DAEMON_LOCK, not a raw SQLite error', async (t) => {
  const root = tempDir(t);
  writeFileSync(
    join(root, 'brigd.lock'),
    'this is not a SQLite database, it is a text file of some length\n'.repeat(20),
  );
  await assert.rejects(acquireRootLock(root), (e) => isBrigError(e, 'ERR_DAEMON_LOCK'));
});

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { requires } from '../../test/support/require.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { openDatabase } from '../metadata/db.ts';
import { selectSnapshotter } from './select.ts';

function setup(t: TestContext) {
  const root = tempDir(t, 'brig-select-');
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  return { root, db };
}

test('storage.driver: native, zfs, and overlay off Linux', async (t) => {
  const { root, db } = setup(t);
  assert.equal(
    (await selectSnapshotter('native', { root, db, platformName: 'linux' })).snapshotter.driver,
    'native',
  );
  assert.equal(
    (await selectSnapshotter('auto', { root, db, platformName: 'freebsd-simulated' })).snapshotter.driver,
    'native',
  );
  await assert.rejects(selectSnapshotter('zfs', { root, db, platformName: 'linux' }), (e: unknown) =>
    isBrigError(e, 'ERR_SNAPSHOTTER_UNAVAILABLE'),
  );
  await assert.rejects(selectSnapshotter('overlay', { root, db, platformName: 'freebsd' }), (e: unknown) =>
    isBrigError(e, 'ERR_SNAPSHOTTER_UNAVAILABLE'),
  );
});

test(
  'storage.driver auto picks overlay on a Linux root that supports it, and cleans its probe',
  requires({ root: true, linux: true }),
  async (t) => {
    const { root, db } = setup(t);
    const { snapshotter } = await selectSnapshotter('auto', { root, db, platformName: 'linux' });
    assert.equal(snapshotter.driver, 'overlay');
    assert.deepEqual(readdirSync(join(root, 'snapshots', 'overlay')), ['snapshots']);
  },
);

test('storage.driver auto falls back to native when the overlay probe fails', async (t) => {
  const { root, db } = setup(t);
  const runner = {
    run: async () => ({
      code: 32,
      signal: null,
      stdout: Buffer.alloc(0),
      stderr: Buffer.from('wrong fs type'),
    }),
  };
  const r = await selectSnapshotter('auto', { root, db, platformName: 'linux', runner });
  assert.equal(r.snapshotter.driver, 'native');
  await assert.rejects(
    selectSnapshotter('overlay', { root, db, platformName: 'linux', runner }),
    (e: unknown) => isBrigError(e, 'ERR_SNAPSHOTTER_UNAVAILABLE'),
  );
});

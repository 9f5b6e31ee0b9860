/**
 * brigd --platform freebsd-simulated (in process): the simulated host is persisted under the
 * root and survives a restart; storage is the zfs snapshotter on the prepared dataset, or native
 * with nullfs mounts; devfs reconciliation reaches the simulated host, never the real one.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../../src/daemon/daemon.ts';
import { isBrigError } from '../../src/errors/errors.ts';
import { openDatabase } from '../../src/metadata/db.ts';
import { SimulatedFreeBSDHost } from '../../src/platform/fake/index.ts';
import { mountAll } from '../../src/snapshots/mount.ts';
import { selectSnapshotter } from '../../src/snapshots/select.ts';
import { tempDir } from '../support/tmp.ts';

const quiet = () => {};

test('brigd freebsd-simulated: zfs storage on the prepared dataset; the host survives a restart', async (t) => {
  const dir = tempDir(t, 'brig-fbsd-daemon-');
  const root = join(dir, 'root');
  const socket = join(dir, 'brig.sock');
  const d = await startDaemon({ root, socket, platform: 'freebsd-simulated', config: {}, log: quiet });
  try {
    assert.equal(d.services.platform?.name, 'freebsd-simulated');
    assert.equal(d.services.platform?.os, 'freebsd');
    assert.equal(d.services.snapshots?.driver, 'zfs');
    await d.services.snapshots!.prepare('x');
  } finally {
    await d.stop();
  }
  const stateFile = join(root, 'freebsd-simulated', 'host.json');
  assert.ok(existsSync(stateFile));
  const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { datasets: Record<string, unknown> };
  assert.ok(saved.datasets['zroot/brig/1'], 'the dataset made before the restart is on the host');
  const d2 = await startDaemon({ root, socket, platform: 'freebsd-simulated', config: {}, log: quiet });
  try {
    assert.equal((await d2.services.snapshots!.stat('x')).kind, 'active');
    // the daemon's cleanup at start found nothing to remove: the row and the dataset agree
    assert.deepEqual((await d2.services.snapshots!.cleanup()).removed, []);
    await d2.services.snapshots!.remove('x');
  } finally {
    await d2.stop();
  }
});

test('storage on FreeBSD: zfs needs its dataset (one zfs list); auto without one is native with nullfs', async (t) => {
  const dir = tempDir(t, 'brig-fbsd-storage-');
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const host = new SimulatedFreeBSDHost({ pools: ['zroot'], writable: [dir] });
  const opts = { root: dir, db, platformName: 'freebsd-simulated', runner: host, zfsDataset: 'zroot/nope' };
  await assert.rejects(selectSnapshotter('zfs', opts), (e) => isBrigError(e, 'ERR_ZFS_DATASET'));
  assert.deepEqual(
    host.log.map((c) => [c.cmd, ...c.args].join(' ')),
    ['zfs list -H -o name zroot/nope'],
  );
  const auto = await selectSnapshotter('auto', opts);
  assert.equal(auto.snapshotter.driver, 'native');
  await assert.rejects(selectSnapshotter('overlay', opts), (e) =>
    isBrigError(e, 'ERR_SNAPSHOTTER_UNAVAILABLE'),
  );
  // native mounts are nullfs, which the (simulated) FreeBSD mount(8) performs
  const s = auto.snapshotter;
  const m = await s.prepare('a');
  assert.deepEqual(
    m.map((x) => [x.type, x.options]),
    [['nullfs', ['rw']]],
  );
  const target = join(dir, 'mnt');
  (await import('node:fs')).mkdirSync(target);
  host.log.length = 0;
  await mountAll(m, target, host);
  assert.deepEqual(
    host.log.map((c) => [c.cmd, ...c.args].join(' ')),
    [`mount -t nullfs -o rw -- ${m[0]!.source} ${target}`],
  );
  assert.ok(host.state().mounts.some((x) => x.fstype === 'nullfs' && x.target === target));
});

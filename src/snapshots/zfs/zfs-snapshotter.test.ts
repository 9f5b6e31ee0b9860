import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../../test/support/tmp.ts';
import { isBrigError } from '../../errors/errors.ts';
import { openDatabase } from '../../metadata/db.ts';
import { SimulatedFreeBSDHost } from '../../platform/fake/index.ts';
import { snapshotterSuite } from '../conformance.ts';
import { ZfsSnapshotter } from './zfs-snapshotter.ts';

/** A simulated host with pool `tank` and `tank/brig` mounted (for real) below `dir`. */
async function zfsHost(dir: string): Promise<SimulatedFreeBSDHost> {
  const host = new SimulatedFreeBSDHost({
    pools: ['tank'],
    writable: [dir],
    contentDir: join(dir, 'content'),
  });
  await host.run('zfs', ['create', '-o', `mountpoint=${join(dir, 'zfs')}`, 'tank/brig']);
  host.log.length = 0;
  return host;
}

/** Every command the host ran, as one line each. */
const commands = (host: SimulatedFreeBSDHost) => host.log.map((c) => [c.cmd, ...c.args].join(' '));

/** A zfs snapshotter on `tank/brig` of a fresh simulated host (see zfsHost) and database. */
async function zfsSnapshotter(t: TestContext) {
  const dir = tempDir(t, 'brig-zfs-');
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const host = await zfsHost(dir);
  return { dir, host, s: new ZfsSnapshotter(db, { dataset: 'tank/brig', runner: host }) };
}

// The simulated host cannot mount for real: data tests are replaced by directWrite and zfs diff.
snapshotterSuite(
  'zfs (simulated FreeBSD host)',
  async ({ db, dir }) => new ZfsSnapshotter(db, { dataset: 'tank/brig', runner: await zfsHost(dir) }),
  { data: false },
);

test('zfs: nothing but `zfs list` runs while the dataset is missing; ERR_ZFS_DATASET', async (t) => {
  const dir = tempDir(t, 'brig-zfs-');
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const host = new SimulatedFreeBSDHost({ pools: ['tank'] });
  const s = new ZfsSnapshotter(db, { dataset: 'tank/missing', runner: host });
  for (const op of [() => s.prepare('a'), () => s.cleanup(), () => s.view('v')]) {
    await assert.rejects(op(), (e) => isBrigError(e, 'ERR_ZFS_DATASET'));
  }
  assert.deepEqual(commands(host), Array(3).fill('zfs list -H -o name tank/missing'));
  const before = host.state();
  assert.deepEqual(host.state(), before);
});

test('zfs: exact commands of a layer, a container clone, commit, remove', async (t) => {
  const { dir, host, s } = await zfsSnapshotter(t);
  const mp = join(dir, 'zfs');
  assert.deepEqual(await s.prepare('l1-a'), [{ type: 'nullfs', source: `${mp}/1`, options: ['rw'] }]);
  await s.commit('l1', 'l1-a');
  assert.deepEqual(await s.prepare('ctr', 'l1'), [{ type: 'nullfs', source: `${mp}/2`, options: ['rw'] }]);
  assert.deepEqual(await s.view('v', 'l1'), [{ type: 'nullfs', source: `${mp}/3`, options: ['ro'] }]);
  await s.remove('ctr');
  await s.remove('v');
  await s.remove('l1');
  assert.deepEqual(commands(host), [
    'zfs list -H -o name tank/brig',
    'zfs list -H -o name -t filesystem -d 1 tank/brig',
    'zfs create tank/brig/1',
    'zfs get -H -o value mountpoint tank/brig/1',
    'zfs snapshot tank/brig/1@committed',
    'zfs set readonly=on tank/brig/1',
    'zfs clone tank/brig/1@committed tank/brig/2',
    'zfs get -H -o value mountpoint tank/brig/2',
    'zfs clone -o readonly=on tank/brig/1@committed tank/brig/3',
    'zfs get -H -o value mountpoint tank/brig/3',
    'zfs destroy -r tank/brig/2',
    'zfs destroy -r tank/brig/3',
    'zfs destroy -r tank/brig/1',
  ]);
  // every dataset is gone again
  const left = await host.run('zfs', ['list', '-H', '-o', 'name', '-r', 'tank/brig']);
  assert.equal(left.stdout.toString(), 'tank/brig\n');
});

test('zfs: a failed clone leaves no dataset and no row', async (t) => {
  const { host, s } = await zfsSnapshotter(t);
  await s.prepare('a');
  await s.commit('l', 'a');
  const before = host.state();
  for (const failing of ['clone', 'get']) {
    host.failNext({ cmd: 'zfs', args: [failing] });
    await assert.rejects(s.prepare('c', 'l'), (e) => isBrigError(e));
    assert.deepEqual(host.state(), before, `after a failing zfs ${failing}`);
    await assert.rejects(s.stat('c'), (e) => isBrigError(e, 'ERR_SNAPSHOT_NOT_FOUND'));
  }
});

test('zfs diff: a container clone’s changes, names with spaces and non-ASCII bytes', async (t) => {
  const { host, s } = await zfsSnapshotter(t);
  await s.prepare('base-a');
  const base = (await s.directWrite('base-a'))!.root;
  mkdirSync(join(base, 'etc'));
  writeFileSync(join(base, 'etc', 'motd'), 'hello');
  mkdirSync(join(base, 'old dir'));
  writeFileSync(join(base, 'old dir', 'f'), 'x');
  writeFileSync(join(base, 'gone'), 'x');
  await s.commit('base', 'base-a');
  await s.prepare('step', 'base');
  const top = (await s.directWrite('step'))!.root;
  writeFileSync(join(top, 'etc', 'motd'), 'changed!');
  writeFileSync(join(top, 'new file é'), 'n');
  rmSync(join(top, 'old dir'), { recursive: true });
  rmSync(join(top, 'gone'));
  const d = await s.diff('step');
  const byPath = Object.fromEntries(d.changes.map((c) => [c.path, c.kind]));
  assert.deepEqual(byPath, {
    'etc/motd': 'modify',
    'new file é': 'add',
    'old dir': 'delete',
    'old dir/f': 'delete',
    gone: 'delete',
  });
  const cmd = host.log.at(-1)!;
  assert.deepEqual([cmd.cmd, ...cmd.args], ['zfs', 'diff', '-FH', 'tank/brig/1@committed', 'tank/brig/2']);
  await assert.rejects(s.diff('base'), (e) => isBrigError(e, 'ERR_SNAPSHOT_STATE'));
});

test('zfs: a leftover @committed (crash between snapshot and row) is retaken at commit', async (t) => {
  const { host, s } = await zfsSnapshotter(t);
  await s.prepare('a');
  await host.run('zfs', ['snapshot', 'tank/brig/1@committed']);
  host.log.length = 0;
  await s.commit('l', 'a');
  assert.deepEqual(commands(host), [
    'zfs snapshot tank/brig/1@committed',
    'zfs destroy tank/brig/1@committed',
    'zfs snapshot tank/brig/1@committed',
    'zfs set readonly=on tank/brig/1',
  ]);
  assert.equal((await s.stat('l')).kind, 'committed');
  // any other snapshot failure fails the commit and leaves the key active
  await s.prepare('b');
  host.failNext({ cmd: 'zfs', args: ['snapshot'] }, { stderr: 'cannot create snapshot: out of space\n' });
  await assert.rejects(s.commit('m', 'b'), (e) => isBrigError(e, 'ERR_COMMAND_FAILED'));
  assert.equal((await s.stat('b')).kind, 'active');
});

test('mountAll on FreeBSD: a failed second nullfs mount unmounts the first (umount without -R)', async (t) => {
  const dir = tempDir(t, 'brig-zfs-');
  const host = new SimulatedFreeBSDHost({ writable: [dir] });
  for (const d of ['a', 'b', 'mnt/sub']) mkdirSync(join(dir, d), { recursive: true });
  const before = host.state();
  const { mountAll } = await import('../mount.ts');
  host.failNext({ cmd: 'mount', args: ['-t', 'nullfs', '-o', 'ro', '--', join(dir, 'b')] });
  await assert.rejects(
    mountAll(
      [
        { type: 'nullfs', source: join(dir, 'a'), options: ['rw'] },
        { type: 'nullfs', source: join(dir, 'b'), target: 'sub', options: ['ro'] },
      ],
      join(dir, 'mnt'),
      host,
    ),
    (e) => isBrigError(e, 'ERR_COMMAND_FAILED'),
  );
  assert.deepEqual(host.state(), before);
  assert.deepEqual(host.log.at(-1)?.args, [join(dir, 'mnt')]);
});

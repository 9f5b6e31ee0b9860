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
    `zfs create -o brig:root=${s.owner} tank/brig/1`,
    'zfs get -H -o value mountpoint tank/brig/1',
    'zfs snapshot tank/brig/1@committed',
    'zfs set readonly=on tank/brig/1',
    `zfs clone -o brig:root=${s.owner} tank/brig/1@committed tank/brig/2`,
    'zfs get -H -o value mountpoint tank/brig/2',
    `zfs clone -o readonly=on -o brig:root=${s.owner} tank/brig/1@committed tank/brig/3`,
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

test('zfs: two roots sharing the dataset: cleanup destroys only its own unrowed datasets', async (t) => {
  const dir = tempDir(t, 'brig-zfs-');
  const host = await zfsHost(dir);
  const open = (name: string) => {
    const db = openDatabase(join(dir, `${name}.db`));
    t.after(() => db.close());
    return new ZfsSnapshotter(db, { dataset: 'tank/brig', runner: host });
  };
  const a = open('a');
  const b = open('b');
  assert.notEqual(a.owner, b.owner);
  // the owner id is kept: a second snapshotter on the same database has the same one
  assert.equal(open('a').owner, a.owner);
  await a.prepare('la');
  await a.commit('layer-a', 'la');
  await a.prepare('ctr-a', 'layer-a');
  await b.prepare('lb');
  await b.commit('layer-b', 'lb');
  await b.prepare('ctr-b', 'layer-b');
  // numbers never collide across roots
  const ids = async (s: ZfsSnapshotter, k: string) => (await s.mounts(k))[0]!.source;
  const all = [
    await ids(a, 'layer-a'),
    await ids(a, 'ctr-a'),
    await ids(b, 'layer-b'),
    await ids(b, 'ctr-b'),
  ];
  assert.equal(new Set(all).size, 4);
  // an unmarked dataset (made by hand or by an older brig) and one that only inherits the mark
  await host.run('zfs', ['create', 'tank/brig/90']);
  assert.deepEqual(await a.cleanup(), { removed: [] });
  assert.deepEqual(await b.cleanup(), { removed: [] });
  const list = async () =>
    (await host.run('zfs', ['list', '-H', '-o', 'name', '-t', 'filesystem', '-r', 'tank/brig'])).stdout
      .toString()
      .trim()
      .split('\n');
  assert.equal((await list()).length, 6);
  // a crash of root a after creating a dataset but before its row: only a's cleanup takes it
  await host.run('zfs', ['create', '-o', `brig:root=${a.owner}`, 'tank/brig/91']);
  assert.deepEqual(await b.cleanup(), { removed: [] });
  assert.deepEqual(await a.cleanup(), { removed: ['tank/brig/91'] });
  // a mark on the parent is inherited by every child and marks none of them
  await host.run('zfs', ['set', `brig:root=${b.owner}`, 'tank/brig']);
  assert.deepEqual(await b.cleanup(), { removed: [] });
  assert.ok((await list()).includes('tank/brig/90'));
  for (const [s, keys] of [
    [a, ['ctr-a', 'layer-a']],
    [b, ['ctr-b', 'layer-b']],
  ] as const)
    for (const k of keys) assert.equal((await s.stat(k)).name, k);
});

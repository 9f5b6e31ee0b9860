import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { openDatabase } from '../metadata/db.ts';
import { removeUnusedLayers } from './gc.ts';
import { NativeSnapshotter } from './native/native-snapshotter.ts';
import { CHAIN_LABEL } from './unpack.ts';

test('removeUnusedLayers removes unneeded unpacked layers leaves first, keeps chains in use', async (t) => {
  const dir = tempDir(t, 'brig-gc-');
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const s = new NativeSnapshotter(db, join(dir, 'native'));
  const layer = async (
    name: string,
    parent?: string,
    labels: Record<string, string> = { [CHAIN_LABEL]: name },
  ) => {
    await s.prepare(`tmp-${name}`, parent, { labels });
    await s.commit(name, `tmp-${name}`);
  };
  // base <- a1 <- a2 (image A);  base <- b1 (image B);  base <- c1 <- container rootfs
  await layer('base');
  await layer('a1', 'base');
  await layer('a2', 'a1');
  await layer('b1', 'base');
  await layer('c1', 'base');
  await s.prepare('ctr-1', 'c1');
  await layer('build-step', 'base', {}); // not made by unpack: never touched
  // image A is gone; B stays; C is gone but its container still runs
  const removed = await removeUnusedLayers(s, ['base', 'b1']);
  assert.deepEqual(removed, ['a2', 'a1']);
  const left: string[] = [];
  await s.walk((i) => {
    left.push(i.name);
  });
  assert.deepEqual(left.sort(), ['b1', 'base', 'build-step', 'c1', 'ctr-1']);
  // the container goes: its chain goes too, except what B and the build step use
  await s.remove('ctr-1');
  assert.deepEqual(await removeUnusedLayers(s, ['b1']), ['c1']);
  await s.remove('build-step');
  assert.deepEqual(await removeUnusedLayers(s, []), ['b1', 'base']);
  assert.deepEqual((await s.cleanup()).removed, []);
});

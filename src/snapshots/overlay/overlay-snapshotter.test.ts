import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { requires } from '../../../test/support/require.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { openDatabase } from '../../metadata/db.ts';
import { snapshotterSuite } from '../conformance.ts';
import { mountAll, unmountAll } from '../mount.ts';
import { MOUNT_DATA_LIMIT, OverlaySnapshotter } from './overlay-snapshotter.ts';

snapshotterSuite('overlay', ({ db, dir }) => new OverlaySnapshotter(db, join(dir, 'snapshots', 'overlay')));
test(
  'overlay: a chain too long for absolute lowerdir paths mounts with relative ones',
  requires({ root: true }),
  async (t) => {
    const dir = tempDir(t, 'brig-snap-');
    const db = openDatabase(join(dir, 'brig.db'));
    t.after(() => db.close());
    const s = new OverlaySnapshotter(db, join(dir, 'snapshots', 'overlay'));
    const layers = 130;
    let parent: string | undefined;
    for (let i = 0; i < layers; i++) {
      await s.prepare(`tmp-${i}`, parent);
      const dw = await s.directWrite(`tmp-${i}`);
      writeFileSync(join(dw!.root, `f${i}`), String(i));
      await s.commit(`layer-${i}`, `tmp-${i}`);
      parent = `layer-${i}`;
    }
    const mounts = await s.prepare('top', parent);
    assert.equal(mounts.length, 1);
    const m = mounts[0]!;
    assert.equal(m.type, 'overlay');
    assert.ok(m.cwd, 'relative paths need a cwd');
    assert.ok(m.options.join(',').length <= MOUNT_DATA_LIMIT);
    assert.ok(!m.options[0]!.includes(dir), 'lowerdir paths are relative');
    const target = join(dir, 'mnt');
    mkdirSync(target);
    await mountAll(mounts, target);
    try {
      assert.equal(readdirSync(target).length, layers);
      writeFileSync(join(target, 'top'), 'x');
    } finally {
      await unmountAll(mounts, target);
    }
    const dw = await s.directWrite('top');
    assert.deepEqual(readdirSync(dw!.root), ['top']);
  },
);

test('overlay: short chains use absolute paths and no cwd', async (t) => {
  const dir = tempDir(t, 'brig-snap-');
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const s = new OverlaySnapshotter(db, join(dir, 'snapshots', 'overlay'));
  await s.prepare('a');
  await s.commit('A', 'a');
  await s.prepare('b', 'A');
  await s.commit('B', 'b');
  const [m] = await s.prepare('top', 'B');
  assert.equal(m!.cwd, undefined);
  const lower = m!.options
    .find((o) => o.startsWith('lowerdir='))!
    .slice('lowerdir='.length)
    .split(':');
  assert.equal(lower.length, 2);
  // nearest parent first
  assert.deepEqual(lower, [join(s.root, 'snapshots', '2', 'fs'), join(s.root, 'snapshots', '1', 'fs')]);
  assert.ok(m!.options.some((o) => o.startsWith('upperdir=')));
  assert.ok(m!.options.some((o) => o.startsWith('workdir=')));
});

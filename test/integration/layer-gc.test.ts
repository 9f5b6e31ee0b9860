/**
 * The layer GC with brigd and real overlay snapshots (docs/storage.md, "When layers are removed"),
 * through the built daemon and CLI (dist/; `npm test` builds first). Two layered images are made
 * offline from the busybox fixture (../shared/fixtures/make-busybox-image.sh) and imported; their
 * first run unpacks them:
 *   A = busybox + a1 + a2,  B = busybox + b1  (the busybox layer is their shared base).
 *   - rm A removes only a1 and a2; rm B removes the rest; no snapshot directory, no mount is left;
 *   - a created (not started) container keeps its image (and so its chain): rm is refused, rm -f
 *     leaves the image unnamed with its chain, prune removes it once the container is gone;
 *   - a running container keeps its image even when forced (the last, unnamed record is refused)
 *     and so its chain; once the container is gone, prune removes image and chain;
 *   - layers nobody needs when brigd starts (image rows gone in a crash before the GC ran) are
 *     removed at start.
 * Snapshot rows are read from brig.db (read-only) while brigd runs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import Database from 'better-sqlite3';
import { inspectImage, pruneImages, removeImage } from '../../src/client/images.ts';
import { isBrigError } from '../../src/errors/errors.ts';
import { startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import {
  assertNoMounts,
  assertStorageMatchesRows,
  committed,
  layeredImage,
  ok,
  rows,
  waitFor,
} from './layer-gc-support.ts';

const needs = requires({ root: true, linux: true, commands: ['umoci', 'conmon'] });

async function setup(t: TestContext) {
  const a = layeredImage(t, ['a1', 'a2']);
  const b = layeredImage(t, ['b1']);
  assert.equal(a.chain[0], b.chain[0], 'the two images share their base layer');
  const d = await startDaemon(t, { config: { storage: { driver: 'overlay' } } });
  await ok(d, ['image', 'import', a.layout, 'a:1']);
  await ok(d, ['image', 'import', b.layout, 'b:1']);
  // the first runs unpack both chains
  assert.equal(await ok(d, ['run', '--rm', 'a:1', '/bin/cat', '/a2']), 'layer a2\n');
  assert.equal(await ok(d, ['run', '--rm', 'b:1', '/bin/cat', '/b1']), 'layer b1\n');
  const all = [...new Set([...a.chain, ...b.chain])].sort();
  await waitFor(
    'both chains, and nothing else',
    () =>
      JSON.stringify(
        rows(d)
          .map((r) => r.key)
          .sort(),
      ) === JSON.stringify(all),
  );
  return { a, b, d, base: a.chain[0]! };
}

describe('layer snapshots are removed with the last image that needs them', needs, () => {
  test('two images sharing a base: rm one removes only its own layers, rm the other removes the rest', async (t) => {
    const { b, d, base } = await setup(t);
    assertStorageMatchesRows(d);

    const r1 = await removeImage(d.client, 'a:1');
    assert.equal(r1.layersRemoved, 2);
    assert.ok(r1.bytesReclaimed > 0);
    assert.deepEqual(committed(d), [base, b.chain[1]!].sort());
    assertStorageMatchesRows(d);
    const before = rows(d);
    // B still runs from its chain, which was not unpacked again
    assert.equal(await ok(d, ['run', '--rm', 'b:1', '/bin/cat', '/b1']), 'layer b1\n');
    assert.deepEqual(rows(d), before);

    const r2 = await removeImage(d.client, 'b:1');
    assert.equal(r2.layersRemoved, 2);
    assert.deepEqual(rows(d), []);
    assertStorageMatchesRows(d);
    assertNoMounts(d);
  });

  test('a created container keeps its image and chain; prune removes them once it is gone', async (t) => {
    const { a, b, d, base } = await setup(t);
    await ok(d, ['create', '--name', 'c1', 'a:1', '/bin/true']);
    const refused = await d.brig(['image', 'rm', 'a:1']);
    assert.equal(refused.code, 125, 'the image of a container is not removed without -f');
    const forced = await removeImage(d.client, 'a:1', { force: true });
    assert.deepEqual(forced.deleted, [], 'the image stays, unnamed');
    assert.equal(forced.layersRemoved, 0);
    assert.deepEqual(committed(d), [...a.chain, b.chain[1]!].sort());

    await ok(d, ['rm', 'c1']);
    const pruned = await pruneImages(d.client);
    assert.equal(pruned.deleted.length, 1);
    assert.equal(pruned.layersRemoved, 2);
    assert.deepEqual(committed(d), [base, b.chain[1]!].sort());
    assertStorageMatchesRows(d);
  });

  test('a running container keeps its image and chain; once it is gone, prune removes both', async (t) => {
    const { a, b, d } = await setup(t);
    const id = (await ok(d, ['run', '-d', '--name', 'r1', 'b:1', '/bin/sleep', '600'])).trim();
    assert.ok(id.length > 0);
    const imageId = (await inspectImage(d.client, 'b:1')).id;
    await removeImage(d.client, 'b:1', { force: true }); // unnamed now
    // its last record is refused even forced: the container's root is made from it at each start
    await assert.rejects(removeImage(d.client, imageId, { force: true }), (e) =>
      isBrigError(e, 'ERR_IMAGE_IN_USE'),
    );
    assert.ok(committed(d).includes(b.chain[1]!));
    assert.equal(await ok(d, ['exec', 'r1', '/bin/cat', '/b1']), 'layer b1\n');

    await ok(d, ['rm', '-f', 'r1']);
    const pruned = await pruneImages(d.client);
    assert.deepEqual(pruned.deleted, [imageId]);
    // image A still needs the base; B's own layer goes with its image
    assert.deepEqual(committed(d), [...a.chain].sort());
    assertStorageMatchesRows(d);
    assertNoMounts(d);
  });

  test('at start brigd removes layers that no image needs (the rows went in a crash before the GC)', async (t) => {
    const { b, d, base } = await setup(t);
    await d.stop();
    const db = new Database(join(d.root, 'brig.db'));
    try {
      db.prepare("DELETE FROM images WHERE name LIKE '%/a:1'").run();
    } finally {
      db.close();
    }
    await d.restart();
    assert.deepEqual(committed(d), [base, b.chain[1]!].sort());
    assertStorageMatchesRows(d);
  });
});

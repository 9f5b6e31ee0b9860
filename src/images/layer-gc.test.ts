/**
 * The image service's side of the layer GC (LocalImageService's `layers` option): after rm and
 * prune it passes the diff ids of every image still recorded and of every image config a live
 * lease holds (a pull in progress), reports what the GC removed, and does not run it when a
 * recorded image's chain cannot be known.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { digestHex } from '../content/digest.ts';
import { LocalContentStore } from '../content/local-store.ts';
import { openDatabase } from '../metadata/db.ts';
import { LocalImageService } from './local-image-service.ts';

function setup(t: TestContext) {
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(root, db);
  const calls: string[][][] = [];
  let answer = { removed: ['sha256:x', 'sha256:y'], bytes: 1000 };
  const images = new LocalImageService({
    content,
    db,
    platform: { os: 'linux', architecture: 'amd64' },
    layers: async (keep) => {
      calls.push(keep.map((d) => [...d]).sort());
      return answer;
    },
  });
  const tree = (text: string) => {
    const d = join(tempDir(t), 'tree');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'file'), text);
    return d;
  };
  const diffIds = async (name: string) => (await images.inspect(name)).layers.map((l) => l.diffId);
  return {
    root,
    db,
    content,
    images,
    tree,
    calls,
    diffIds,
    answer: (a: typeof answer) => {
      answer = a;
    },
  };
}

test('rm and prune pass the diff ids of the images that remain and report the layers removed', async (t) => {
  const s = setup(t);
  await s.images.import(s.tree('a'), { name: 'a' });
  await s.images.import(s.tree('b'), { name: 'b' });
  const a = await s.diffIds('a');
  const b = await s.diffIds('b');
  assert.notDeepEqual(a, b);

  const r = await s.images.rm('a');
  assert.deepEqual(s.calls, [[b]]);
  assert.equal(r.layersRemoved, 2);
  assert.ok(r.bytesReclaimed > 1000, 'blob bytes and layer bytes');

  s.answer({ removed: [], bytes: 0 });
  const p = await s.images.prune({ all: true });
  assert.deepEqual(s.calls[1], []);
  assert.equal(p.layersRemoved, 0);
  assert.ok(p.blobsRemoved > 0);
});

test('an image config that a live lease holds (a pull not yet recorded) is kept', async (t) => {
  const s = setup(t);
  await s.images.import(s.tree('a'), { name: 'a' });
  const pulling = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`];
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: pulling } }),
  );
  const lease = await s.content.createLease({ expiresInMs: 60_000 });
  await s.content.ingest(config, { lease });
  // a blob under the lease that is not an image config adds nothing
  await s.content.ingest(Buffer.from('{"schemaVersion":2}'), { lease });
  await s.images.rm('a');
  assert.deepEqual(s.calls, [[pulling]]);
  // once the lease is gone, so is the claim
  await s.content.deleteLease(lease);
  await s.images.prune();
  assert.deepEqual(s.calls[1], []);
});

test('the GC does not run when a recorded image config cannot be read', async (t) => {
  const s = setup(t);
  await s.images.import(s.tree('a'), { name: 'a' });
  const b = await s.images.import(s.tree('b'), { name: 'b' });
  rmSync(join(s.root, 'content', 'blobs', 'sha256', digestHex(b.id)), { force: true });
  const r = await s.images.rm('a');
  assert.deepEqual(s.calls, [], 'the chain of b is unknown: no layer is known to be unneeded');
  assert.equal(r.layersRemoved, 0);
  assert.deepEqual(r.deleted.length, 1);
});

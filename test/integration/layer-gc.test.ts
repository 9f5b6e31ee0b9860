/**
 * The layer GC with brigd and real overlay snapshots (docs/storage.md, "When layers are removed"),
 * through the built daemon and CLI (dist/; `npm test` builds first). Two layered images are made
 * offline from the busybox fixture (../shared/fixtures/make-busybox-image.sh) and imported; their
 * first run unpacks them:
 *   A = busybox + a1 + a2,  B = busybox + b1  (the busybox layer is their shared base).
 *   - rm A removes only a1 and a2; rm B removes the rest; no snapshot directory, no mount is left;
 *   - a created (not started) container keeps its image (and so its chain): rm is refused, rm -f
 *     leaves the image unnamed with its chain, prune removes it once the container is gone;
 *   - a running container whose image is removed (rm -f of its last, unnamed record) keeps the
 *     chain under its root snapshot until the container is destroyed, then the chain goes;
 *   - layers nobody needs when brigd starts (image rows gone in a crash before the GC ran) are
 *     removed at start.
 * Snapshot rows are read from brig.db (read-only) while brigd runs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { inspectImage, pruneImages, removeImage } from '../../src/client/images.ts';
import type { Digest } from '../../src/content/store.ts';
import { chainIds } from '../../src/snapshots/unpack.ts';
import { busyboxImage } from '../support/busybox.ts';
import { startDaemon, type TestDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { tarOf } from './layers-helpers.ts';

const needs = requires({ root: true, linux: true, commands: ['umoci', 'conmon'] });

const sha = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Made {
  layout: string;
  diffIds: Digest[];
  chain: Digest[];
}

/** The busybox layout with one gzip layer per name added on top (a file /<name> in each). */
function layeredImage(t: TestContext, names: string[]): Made {
  const layout = join(tempDir(t), 'layout');
  cpSync(busyboxImage().layout, layout, { recursive: true });
  const blobPath = (d: string) => join(layout, 'blobs', 'sha256', d.slice(7));
  const put = (b: Buffer, mediaType: string) => {
    const digest = sha(b);
    writeFileSync(blobPath(digest), b);
    return { mediaType, digest, size: b.length };
  };
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blobPath(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(readFileSync(blobPath(manifest.config.digest), 'utf8'));
  delete config.history;
  for (const n of names) {
    const tar = tarOf([{ name: n, data: `layer ${n}\n` }]);
    manifest.layers.push(put(gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip'));
    config.rootfs.diff_ids.push(sha(tar));
  }
  manifest.config = put(Buffer.from(JSON.stringify(config)), 'application/vnd.oci.image.config.v1+json');
  const m = put(Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...m, annotations: index.manifests[0].annotations }] }),
  );
  return { layout, diffIds: config.rootfs.diff_ids, chain: chainIds(config.rootfs.diff_ids) };
}

interface Row {
  key: string;
  kind: string;
  parent: string | null;
  info: string;
}

function rows(d: TestDaemon): Row[] {
  const db = new Database(join(d.root, 'brig.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare("SELECT key, kind, parent, info FROM snapshots WHERE driver = 'overlay' ORDER BY key")
      .all() as Row[];
  } finally {
    db.close();
  }
}

const committed = (d: TestDaemon) =>
  rows(d)
    .filter((r) => r.kind === 'committed')
    .map((r) => r.key)
    .sort();

/** The numbered directories under the overlay snapshotter's root: exactly the rows' ids. */
function assertStorageMatchesRows(d: TestDaemon): void {
  const dir = join(d.root, 'snapshots', 'overlay', 'snapshots');
  const onDisk = existsSync(dir) ? readdirSync(dir).sort() : [];
  const ids = rows(d)
    .map((r) => String((JSON.parse(r.info) as { id: number }).id))
    .sort();
  assert.deepEqual(onDisk, ids, 'a directory per row, none without one');
}

function assertNoMounts(d: TestDaemon): void {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(d.root));
  assert.deepEqual(lines, [], 'no mount under the root is left');
}

async function ok(d: TestDaemon, args: string[]): Promise<string> {
  const r = await d.brig(args);
  assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function waitFor(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}`);
}

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

  test('a running container keeps the chain of its removed image until it is destroyed', async (t) => {
    const { a, b, d } = await setup(t);
    const id = (await ok(d, ['run', '-d', '--name', 'r1', 'b:1', '/bin/sleep', '600'])).trim();
    assert.ok(id.length > 0);
    const imageId = (await inspectImage(d.client, 'b:1')).id;
    await removeImage(d.client, 'b:1', { force: true }); // unnamed now
    const gone = await removeImage(d.client, imageId, { force: true }); // its last record
    assert.deepEqual(gone.deleted, [imageId]);
    assert.equal(gone.layersRemoved, 0, 'the container stands on the chain');
    assert.ok(committed(d).includes(b.chain[1]!));
    assert.equal(await ok(d, ['exec', 'r1', '/bin/cat', '/b1']), 'layer b1\n');

    await ok(d, ['rm', '-f', 'r1']);
    // image A still needs the base; B's own layer goes after the container's destroy
    await waitFor("B's layer removed after the container", () => !committed(d).includes(b.chain[1]!));
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

// Digest names beside tags (docker's RepoDigests): a pull by tag records REPO:TAG and REPO@DIGEST
// in one transaction, a push records REPO@DIGEST (recordDigest), inspect splits the names into
// repoTags and repoDigests, a moved tag leaves the old image its digest name, and prune counts an
// image without a tag as dangling (docs/registries.md, "Digest names").
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { imageServiceFor, motdTree } from '../../test/support/image-service.ts';
import type { Digest } from '../content/store.ts';
import { isBrigError } from '../errors/errors.ts';

function setup(t: TestContext) {
  const { db, content, images } = imageServiceFor(t, { platform: { os: 'linux', architecture: 'amd64' } });
  /** An image in the store, named example.org/src/TEXT:1 (a name the tests drop when it is in the way). */
  const stored = async (text: string) => {
    const r = await images.import(motdTree(t, text), { name: `example.org/src/${text}:1` });
    return images.inspect(r.id);
  };
  return { db, content, images, stored };
}

const INDEX = `sha256:${'a'.repeat(64)}` as Digest;
/** The image's names outside example.org/src. */
const names = async (s: ReturnType<typeof setup>, image: string) =>
  (await s.images.lookup(image)).names.filter((n) => !n.startsWith('example.org/src/')).sort();

test('record() of a tag with the pulled digest records REPO@DIGEST beside REPO:TAG, without reading layers', async (t) => {
  const s = setup(t);
  const info = await s.stored('one');
  const img = { id: info.id };
  const layer = info.layers[0]!.digest;
  const reader = s.content.reader.bind(s.content);
  const read: string[] = [];
  s.content.reader = (digest, opts) => {
    read.push(digest);
    return reader(digest, opts);
  };
  const r = await s.images.record('example.org/r:1', info.target, { pulled: INDEX });
  assert.equal(read.includes(layer), false, 'the layer blob was read');
  assert.deepEqual(
    r.names.sort(),
    ['example.org/src/one:1', `example.org/r@${INDEX}`, 'example.org/r:1'].sort(),
  );
  // the manifest's own digest when the tag pointed at the manifest
  const r2 = await s.images.record('example.org/other:2', info.target, { pulled: info.target.digest });
  assert.ok(r2.names.includes(`example.org/other@${info.target.digest}`));
  for (const arg of [`example.org/r@${INDEX}`, `example.org/r:anything@${INDEX}`]) {
    const d = await s.images.inspect(arg);
    assert.equal(d.id, img.id);
    assert.equal(d.manifestDigest, info.target.digest);
  }
  const d = await s.images.inspect('example.org/r:1');
  assert.deepEqual(d.repoTags.sort(), ['example.org/other:2', 'example.org/r:1', 'example.org/src/one:1']);
  assert.deepEqual(d.repoDigests.sort(), [
    `example.org/other@${info.target.digest}`,
    `example.org/r@${INDEX}`,
  ]);
  // a pull by digest still records the digest name alone
  const byDigest = await s.images.record(`example.org/d@${INDEX}`, info.target, { pulled: INDEX });
  assert.equal(byDigest.names.filter((n) => n.startsWith('example.org/d')).length, 1);
});

test('the tag and its digest name are recorded in one transaction: a failure records neither', async (t) => {
  const s = setup(t);
  const info = await s.stored('tx');
  s.db.exec(
    `CREATE TEMP TRIGGER refuse_digest_names BEFORE INSERT ON images WHEN NEW.name LIKE '%@%'
     BEGIN SELECT RAISE(ABORT, 'injected'); END`,
  );
  await assert.rejects(s.images.record('example.org/r:1', info.target, { pulled: INDEX }));
  await assert.rejects(s.images.lookup('example.org/r:1'), (e) => isBrigError(e, 'ERR_IMAGE_NOT_FOUND'));
  assert.deepEqual(
    s.db.prepare('SELECT name FROM images').pluck().all(),
    ['example.org/src/tx:1'],
    'nothing recorded, not even the tag',
  );
});

test('a tag a later pull moves keeps the old image under its digest name; rm and prune follow docker', async (t) => {
  const s = setup(t);
  const a = await s.stored('old');
  const b = await s.stored('new');
  const dA = a.target.digest;
  const dB = b.target.digest;
  await s.images.record('example.org/r:1', a.target, { pulled: dA });
  await s.images.record('example.org/r:1', b.target, { pulled: dB });
  await s.images.rm('example.org/src/old:1');
  await s.images.rm('example.org/src/new:1');
  assert.deepEqual(await names(s, a.id), [`example.org/r@${dA}`]);
  assert.deepEqual(await names(s, b.id), ['example.org/r:1', `example.org/r@${dB}`]);
  assert.equal((await s.images.inspect(`example.org/r@${dA}`)).id, a.id);

  // rm of a digest name removes that name only; the image stays while its tag does
  const rmDigest = await s.images.rm(`example.org/r@${dB}`);
  assert.deepEqual(rmDigest.untagged, [`example.org/r@${dB}`]);
  assert.deepEqual(rmDigest.deleted, []);
  assert.deepEqual(await names(s, b.id), ['example.org/r:1']);
  await s.images.record('example.org/r:1', b.target, { pulled: dB });

  // prune takes the image without a tag (only its digest name left), not the tagged one
  const pruned = await s.images.prune();
  assert.deepEqual(pruned.deleted, [a.id]);
  assert.deepEqual(pruned.untagged, [`example.org/r@${dA}`]);
  assert.deepEqual(
    (await s.images.list()).map((i) => i.id),
    [b.id],
  );

  // rm of the last tag takes the repository's digest names with it
  const last = await s.images.rm('example.org/r:1');
  assert.deepEqual(last.untagged, ['example.org/r:1', `example.org/r@${dB}`]);
  assert.deepEqual(last.deleted, [b.id]);
});

test('recordDigest() adds REPO@DIGEST to the image the name still names, and nothing otherwise', async (t) => {
  const s = setup(t);
  const a = await s.stored('pushed');
  const b = await s.stored('other');
  await s.images.record('example.org/r:1', a.target);
  assert.equal(await s.images.recordDigest('example.org/r:1', a.id, INDEX), `example.org/r@${INDEX}`);
  assert.deepEqual(await names(s, a.id), ['example.org/r:1', `example.org/r@${INDEX}`]);
  // pushed by its digest name: already recorded
  assert.equal(await s.images.recordDigest(`example.org/r@${INDEX}`, a.id, INDEX), `example.org/r@${INDEX}`);
  // the name moved to another image during the push, or was removed: nothing recorded
  await s.images.record('example.org/q:1', a.target);
  await s.images.record('example.org/q:1', b.target);
  assert.equal(await s.images.recordDigest('example.org/q:1', a.id, a.target.digest), undefined);
  assert.equal(await s.images.recordDigest('example.org/gone:1', a.id, a.target.digest), undefined);
  await assert.rejects(s.images.lookup(`example.org/q@${a.target.digest}`));
  await assert.rejects(s.images.recordDigest('example.org/r:1', a.id, 'sha256:zz' as Digest), (e) =>
    isBrigError(e, 'ERR_INVALID_ARGUMENT'),
  );
});

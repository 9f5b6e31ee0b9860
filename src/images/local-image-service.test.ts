import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { LocalContentStore } from '../content/local-store.ts';
import { isBrigError } from '../errors/errors.ts';
import { openDatabase } from '../metadata/db.ts';
import { LocalImageService } from './local-image-service.ts';

function setup(t: TestContext) {
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(root, db);
  const events: string[] = [];
  const images = new LocalImageService({
    content,
    db,
    platform: { os: 'freebsd', architecture: 'x86_64' },
    emit: (a, id) => events.push(`${a} ${id.slice(7, 15)}`),
  });
  const tree = (content_: string) => {
    const d = join(tempDir(t), 'tree');
    mkdirSync(join(d, 'etc'), { recursive: true });
    writeFileSync(join(d, 'etc', 'motd'), content_);
    return d;
  };
  const addContainer = (imageId: string) =>
    db
      .prepare(
        `INSERT INTO containers (id, name, image, image_id, state, created_at, spec) VALUES (?, ?, 'x', ?, 'created', 0, '{}')`,
      )
      .run(`c${Math.random()}`, `n${Math.random()}`, imageId);
  const blobCount = async () => {
    let n = 0;
    for await (const _ of content.list()) n++;
    return n;
  };
  return { root, db, content, images, tree, addContainer, blobCount, events };
}

test('a rootfs import gets the host platform; names are canonical; lookups by name, id and prefix', async (t) => {
  const s = setup(t);
  const r = await s.images.import(s.tree('one'), { name: 'app:1' });
  assert.equal(r.platform, 'freebsd/amd64');
  assert.deepEqual(r.names, ['docker.io/library/app:1']);
  for (const arg of ['app:1', 'docker.io/library/app:1', r.id, r.id.slice(7, 19)]) {
    assert.equal((await s.images.inspect(arg)).id, r.id, arg);
  }
  await assert.rejects(s.images.inspect('app:2'), (e) => isBrigError(e, 'ERR_IMAGE_NOT_FOUND'));
  await assert.rejects(s.images.import(s.tree('x'), { name: `app@sha256:${'a'.repeat(64)}` }), (e) =>
    isBrigError(e, 'ERR_REFERENCE_INVALID'),
  );
  assert.deepEqual(s.events, [`import ${r.id.slice(7, 15)}`]);
});

test('lookup gives the id, names and target without reading the image blobs', async (t) => {
  const s = setup(t);
  const r = await s.images.import(s.tree('one'), { name: 'app:1' });
  await s.images.tag('app:1', 'app:2');
  const details = await s.images.inspect('app:1');
  // the blobs gone from the store: inspect fails, lookup does not read them
  for await (const b of s.content.list()) await s.content.delete(b.digest);
  const l = await s.images.lookup('app:2');
  assert.equal(l.id, r.id);
  assert.deepEqual(l.target, details.target);
  assert.deepEqual(l.names.sort(), ['docker.io/library/app:1', 'docker.io/library/app:2']);
  await assert.rejects(s.images.inspect('app:1'));
  await assert.rejects(s.images.lookup('app:3'), (e) => isBrigError(e, 'ERR_IMAGE_NOT_FOUND'));
});

test('tag adds a name; re-importing a name moves it and leaves the old image dangling', async (t) => {
  const s = setup(t);
  const a = await s.images.import(s.tree('a'), { name: 'app' });
  await s.images.tag('app', 'example.org/app:stable');
  assert.deepEqual((await s.images.inspect('app')).names, [
    'docker.io/library/app:latest',
    'example.org/app:stable',
  ]);
  const b = await s.images.import(s.tree('b'), { name: 'app' });
  assert.notEqual(a.id, b.id);
  assert.deepEqual((await s.images.inspect(a.id)).names, ['example.org/app:stable']);
  const c = await s.images.import(s.tree('c'), { name: 'example.org/app:stable' });
  // a lost its last name: it is dangling (no names) but still listed
  const list = await s.images.list();
  assert.deepEqual(list.find((i) => i.id === a.id)?.names, []);
  const pruned = await s.images.prune();
  assert.deepEqual(pruned.deleted, [a.id]);
  assert.ok(pruned.blobsRemoved >= 3);
  assert.deepEqual((await s.images.list()).map((i) => i.id).sort(), [b.id, c.id].sort());
  // removing the last name of an unused image deletes it (as docker rmi does)
  const r = await s.images.rm('example.org/app:stable');
  assert.deepEqual(r.deleted, [c.id]);
});

test('rm refuses the last name of an image a container uses, unless forced', async (t) => {
  const s = setup(t);
  const a = await s.images.import(s.tree('a'), { name: 'app' });
  await s.images.tag('app', 'other');
  s.addContainer(a.id);
  // other names remain: untagging one is fine
  assert.deepEqual((await s.images.rm('other')).untagged, ['docker.io/library/other:latest']);
  await assert.rejects(s.images.rm('app'), (e) => isBrigError(e, 'ERR_IMAGE_IN_USE'));
  await assert.rejects(s.images.rm(a.id), (e) => isBrigError(e, 'ERR_IMAGE_IN_USE'));
  const forced = await s.images.rm('app', { force: true });
  assert.deepEqual(forced.deleted, []);
  assert.equal(forced.blobsRemoved, 0, 'the container still needs the blobs');
  assert.deepEqual((await s.images.inspect(a.id)).names, []);
  // unnamed and still in use: even forced, it is not deleted (the container could not start)
  await assert.rejects(s.images.rm(a.id, { force: true }), (e) => isBrigError(e, 'ERR_IMAGE_IN_USE'));
  assert.equal((await s.images.inspect(a.id)).id, a.id);
  // prune keeps it while the container exists
  assert.deepEqual((await s.images.prune({ all: true })).deleted, []);
  s.db.prepare('DELETE FROM containers').run();
  assert.deepEqual((await s.images.prune()).deleted, [a.id]);
  assert.equal(await s.blobCount(), 0);
});

test('rm by id with several names needs force; rm removes unreferenced blobs but not shared ones', async (t) => {
  const s = setup(t);
  const dir = s.tree('same');
  const a = await s.images.import(dir, { name: 'one' });
  await s.images.tag('one', 'two');
  const other = await s.images.import(s.tree('other'), { name: 'three' });
  await assert.rejects(s.images.rm(a.id), (e) => isBrigError(e, 'ERR_IMAGE_IN_USE'));
  const before = await s.blobCount();
  const r = await s.images.rm(a.id, { force: true });
  assert.deepEqual(r.deleted, [a.id]);
  assert.equal(r.untagged.length, 2);
  assert.equal(await s.blobCount(), before - r.blobsRemoved);
  assert.ok(r.blobsRemoved >= 3);
  assert.equal((await s.images.inspect('three')).id, other.id);
});

test('prune --all removes every unused image; import without a name makes a dangling image', async (t) => {
  const s = setup(t);
  const d = await s.images.import(s.tree('d'));
  assert.deepEqual(d.names, []);
  await s.images.import(s.tree('e'), { name: 'e' });
  assert.equal((await s.images.list()).length, 2);
  const r = await s.images.prune({ all: true });
  assert.equal(r.deleted.length, 2);
  assert.deepEqual(await s.images.list(), []);
  assert.equal(await s.blobCount(), 0);
});

test('GC running concurrently with imports never removes their blobs', async (t) => {
  const s = setup(t);
  const imports = Array.from({ length: 6 }, (_, i) => s.images.import(s.tree(`c${i}`), { name: `c${i}` }));
  const gcs = Array.from({ length: 6 }, () => s.images.gc());
  await Promise.all([...imports, ...gcs]);
  for (let i = 0; i < 6; i++) {
    const info = await s.images.inspect(`c${i}`);
    for (const l of info.layers) assert.ok(await s.content.has(l.digest));
    const dir = join(tempDir(t), `u${i}`);
    await s.images.unpack(`c${i}`, dir, { unprivileged: true });
  }
  assert.deepEqual((await s.images.gc()).removed, []);
});

test('unpack refuses a non-empty directory and cleans up after a failure', async (t) => {
  const s = setup(t);
  await s.images.import(s.tree('x'), { name: 'x' });
  const full = tempDir(t);
  writeFileSync(join(full, 'f'), '');
  await assert.rejects(s.images.unpack('x', full), (e) => isBrigError(e, 'ERR_ALREADY_EXISTS'));
  // corrupt the layer in the store: unpack fails on the digest and removes what it made
  const info = await s.images.inspect('x');
  const p = s.content.blobPath(info.layers[0]!.digest);
  const { chmodSync, writeFileSync: w, existsSync } = await import('node:fs');
  chmodSync(p, 0o644);
  w(p, 'garbage that is not gzip');
  const target = join(tempDir(t), 'new');
  await assert.rejects(s.images.unpack('x', target, { unprivileged: true }));
  assert.equal(existsSync(target), false);
});

test('record() does not hash the layers again (a pull verified them as they arrived)', async (t) => {
  const s = setup(t);
  await s.images.import(s.tree('p'), { name: 'pulled' });
  const info = await s.images.inspect('pulled');
  const layer = info.layers[0]!.digest;
  const reader = s.content.reader.bind(s.content);
  const read: string[] = [];
  s.content.reader = (digest, opts) => {
    read.push(digest);
    return reader(digest, opts);
  };
  await s.images.record('example.org/pulled:1', info.target);
  assert.equal(read.includes(layer), false, 'the layer blob was read');
});

test('record() names content already in the store (a pull) and refuses missing blobs', async (t) => {
  const s = setup(t);
  const a = await s.images.import(s.tree('p'), { name: 'pulled' });
  const target = (await s.images.inspect('pulled')).target;
  const r = await s.images.record('example.org/pulled:1', target);
  assert.equal(r.id, a.id);
  assert.deepEqual(r.names, ['docker.io/library/pulled:latest', 'example.org/pulled:1']);
  const info = await s.images.inspect('pulled');
  const manifest = Buffer.from(
    JSON.stringify({
      ...info.manifest,
      layers: [{ ...info.manifest.layers[0], digest: `sha256:${'9'.repeat(64)}` }],
    }),
  );
  const m = await s.content.ingest(manifest);
  await assert.rejects(
    s.images.record('broken', { mediaType: info.target.mediaType, digest: m.digest, size: m.size }),
    (e) => isBrigError(e, 'ERR_IMAGE_INVALID'),
  );
  await assert.rejects(s.images.inspect('broken'), (e) => isBrigError(e, 'ERR_IMAGE_NOT_FOUND'));
});

test('record() takes a digest name only for the pulled digest, as REPO@DIGEST; find, inspect and rm use it', async (t) => {
  const s = setup(t);
  const a = await s.images.import(s.tree('by-digest'), { name: 'local' });
  const target = (await s.images.inspect('local')).target;
  const m = target.digest;
  const r = await s.images.record(`example.org/r@${m}`, target);
  assert.equal(r.id, a.id);
  assert.deepEqual(r.names, ['docker.io/library/local:latest', `example.org/r@${m}`]);
  // NAME:TAG@DIGEST is recorded as NAME@DIGEST: the same name, no second one
  const again = await s.images.record(`example.org/r:9@${m}`, target);
  assert.deepEqual(again.names, r.names);
  // the digest of the index the manifest was picked from
  const index = `sha256:${'a'.repeat(64)}` as const;
  const viaIndex = await s.images.record(`example.org/r@${index}`, target, { pulled: index });
  assert.ok(viaIndex.names.includes(`example.org/r@${index}`));
  // any other digest, and digest names given to tag or import, are refused
  const other = `sha256:${'b'.repeat(64)}`;
  const invalid = (e: unknown) => isBrigError(e, 'ERR_REFERENCE_INVALID');
  await assert.rejects(s.images.record(`example.org/r@${other}`, target, { pulled: index }), invalid);
  await assert.rejects(s.images.tag('local', `example.org/t@${m}`), invalid);
  await assert.rejects(s.images.import(s.tree('x'), { name: `example.org/i@${m}` }), invalid);

  for (const arg of [`example.org/r@${m}`, `example.org/r:whatever@${m}`]) {
    assert.equal((await s.images.inspect(arg)).id, a.id);
    assert.equal((await s.images.lookup(arg)).target.digest, m);
    assert.equal((await s.images.resolve(arg)).name, `example.org/r@${m}`);
  }
  await assert.rejects(s.images.inspect(`example.org/r@${other}`), (e) =>
    isBrigError(e, 'ERR_IMAGE_NOT_FOUND'),
  );
  assert.equal((await s.images.list()).length, 1);

  const rm = await s.images.rm(`example.org/r:9@${m}`);
  assert.deepEqual(rm.untagged, [`example.org/r@${m}`]);
  assert.deepEqual(rm.deleted, []);
  assert.deepEqual((await s.images.lookup('local')).names, [
    'docker.io/library/local:latest',
    `example.org/r@${index}`,
  ]);
});

test('rm of the last tag of a repository takes its digest names; rm by id does not count them', async (t) => {
  const s = setup(t);
  const a = await s.images.import(s.tree('tagged'), { name: 'example.org/r:1' });
  const target = (await s.images.inspect(a.id)).target;
  const digestName = `example.org/r@${target.digest}`;
  await s.images.record(digestName, target);
  await s.images.tag('example.org/r:1', 'example.org/r:2');
  await s.images.tag('example.org/r:1', 'example.org/elsewhere:1');
  // another tag of the repository stays: only the tag goes
  assert.deepEqual((await s.images.rm('example.org/r:1')).untagged, ['example.org/r:1']);
  assert.deepEqual((await s.images.rm('example.org/elsewhere:1')).untagged, ['example.org/elsewhere:1']);
  // the last tag of the repository takes the digest name with it, and the image goes
  const last = await s.images.rm('example.org/r:2');
  assert.deepEqual(last.untagged, ['example.org/r:2', digestName]);
  assert.deepEqual(last.deleted, [a.id]);
  assert.deepEqual(await s.images.list(), []);

  // a tag and a digest name of one repository are one name for rm by id
  const b = await s.images.import(s.tree('tagged'), { name: 'example.org/r:1' });
  const bTarget = (await s.images.inspect(b.id)).target;
  await s.images.record(`example.org/r@${bTarget.digest}`, bTarget);
  const byId = await s.images.rm(b.id);
  assert.deepEqual(byId.untagged.sort(), [`example.org/r@${bTarget.digest}`, 'example.org/r:1'].sort());
  assert.deepEqual(byId.deleted, [b.id]);
});

test('an image known only by a digest name keeps its layers; a name points at the manifest that was recorded', async (t) => {
  const s = setup(t);
  const kept: Array<readonly string[]> = [];
  const images = new LocalImageService({
    content: s.content,
    db: s.db,
    platform: { os: 'freebsd', architecture: 'x86_64' },
    layers: async (keep) => {
      kept.splice(0, kept.length, ...keep);
      return { removed: [], bytes: 0 };
    },
  });
  const a = await images.import(s.tree('gc'), { name: 'example.org/r:1' });
  const first = await images.inspect(a.id);
  await images.record(`example.org/r@${first.target.digest}`, first.target);
  await images.rm('example.org/r:1'); // the digest name goes with it: nothing left
  assert.deepEqual(kept, []);
  const b = await images.import(s.tree('gc2'), { name: 'example.org/keep:1' });
  const info = await images.inspect(b.id);
  await images.record(`example.org/r@${info.target.digest}`, info.target);
  await images.tag(b.id, 'example.org/other:1');
  await images.rm('example.org/keep:1');
  await images.rm('example.org/other:1');
  assert.deepEqual((await images.lookup(b.id)).names, [`example.org/r@${info.target.digest}`]);
  assert.deepEqual(kept, [info.config.rootfs.diff_ids]);

  // the same config under another manifest (a registry's own manifest of an image the store
  // holds): the name records and shows that manifest, not the first one
  const manifest = Buffer.from(JSON.stringify({ ...info.manifest, annotations: { other: 'manifest' } }));
  const m2 = await s.content.ingest(manifest);
  const t2 = { mediaType: info.target.mediaType, digest: m2.digest, size: m2.size };
  const r = await images.record('example.org/v2:1', t2);
  assert.equal(r.id, b.id);
  assert.equal(r.manifestDigest, m2.digest);
  assert.equal((await images.lookup('example.org/v2:1')).target.digest, m2.digest);
  assert.equal((await images.inspect('example.org/v2:1')).manifestDigest, m2.digest);
  assert.equal(
    (await images.inspect(`example.org/r@${info.target.digest}`)).manifestDigest,
    info.target.digest,
  );
});

test('a name with a digest in an import source is kept only for the imported manifest', async (t) => {
  const s = setup(t);
  await s.images.import(s.tree('annotated'), { name: 'example.org/a:1' });
  const layout = join(tempDir(t), 'layout');
  const { manifestDigest } = await s.images.export('example.org/a:1', layout);
  const annotate = (name: string) => {
    const file = join(layout, 'index.json');
    const index = JSON.parse(readFileSync(file, 'utf8'));
    index.manifests[0].annotations['io.containerd.image.name'] = name;
    writeFileSync(file, JSON.stringify(index));
  };
  const fresh = setup(t);
  annotate(`example.org/a@sha256:${'c'.repeat(64)}`);
  assert.deepEqual((await fresh.images.import(layout)).names, []);
  annotate(`example.org/a:2@${manifestDigest}`);
  assert.deepEqual((await fresh.images.import(layout)).names, [`example.org/a@${manifestDigest}`]);
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { type DB, openDatabase } from '../metadata/db.ts';
import { sha256 } from './digest.ts';
import { LocalContentStore } from './local-store.ts';
import type { Digest } from './store.ts';

function setup(t: import('node:test').TestContext): { root: string; db: DB; store: LocalContentStore } {
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  return { root, db, store: new LocalContentStore(root, db) };
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const blobsOf = (root: string) => readdirSync(join(root, 'content', 'blobs', 'sha256'));
const ingestOf = (root: string) => readdirSync(join(root, 'content', 'ingest'));

test('ingest stores a blob under its digest, read-only, and reads it back verified', async (t) => {
  const { root, store } = setup(t);
  const data = Buffer.from('hello brig');
  const info = await store.ingest(data, { digest: sha256(data), size: data.length });
  assert.equal(info.digest, sha256(data));
  assert.equal(info.size, data.length);
  assert.deepEqual(blobsOf(root), [sha256(data).slice(7)]);
  assert.deepEqual(ingestOf(root), []);
  assert.ok(await store.has(info.digest));
  assert.deepEqual(await store.readBytes(info.digest, { verify: true }), data);
  assert.deepEqual(await collect(store.reader(info.digest, { verify: true })), data);
  assert.deepEqual(await collect(store.reader(info.digest, { start: 6 })), Buffer.from('brig'));
  assert.equal((await store.info(info.digest)).size, data.length);
});

test('ingest over a stored blob of another size replaces it; a wrong announced size leaves it as it was', async (t) => {
  const { root, store } = setup(t);
  const data = Buffer.from('the whole blob');
  const digest = sha256(data);
  await store.ingest(data, { digest, size: data.length });
  // truncated on disk (a crashed writer of an old version, bit rot)
  chmodSync(store.blobPath(digest), 0o644);
  writeFileSync(store.blobPath(digest), data.subarray(0, 5));
  chmodSync(store.blobPath(digest), 0o444);
  const info = await store.ingest(data, { digest, size: data.length });
  assert.equal(info.size, data.length);
  assert.deepEqual(await store.readBytes(digest, { verify: true }), data);
  assert.equal(statSync(store.blobPath(digest)).mode & 0o777, 0o444);
  // a source that does not match the announced size cannot replace a good blob
  await assert.rejects(store.ingest(data, { digest, size: 3 }), (e) =>
    isBrigError(e, 'ERR_CONTENT_SIZE_MISMATCH'),
  );
  assert.deepEqual(await store.readBytes(digest, { verify: true }), data);
  assert.deepEqual(ingestOf(root), []);
});

test('an ingest without an expected digest computes it; streams of many chunks work', async (t) => {
  const { store } = setup(t);
  const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(100_000, i));
  const info = await store.ingest(Readable.from(chunks));
  assert.equal(info.digest, sha256(Buffer.concat(chunks)));
  assert.equal(info.size, 5_000_000);
});

test('a wrong digest or size is refused and leaves nothing behind', async (t) => {
  const { root, store } = setup(t);
  const data = Buffer.from('payload');
  await assert.rejects(store.ingest(data, { digest: sha256('other') }), (e) =>
    isBrigError(e, 'ERR_CONTENT_DIGEST_MISMATCH'),
  );
  await assert.rejects(store.ingest(data, { size: 3 }), (e) => isBrigError(e, 'ERR_CONTENT_SIZE_MISMATCH'));
  await assert.rejects(store.ingest(data, { size: 100 }), (e) => isBrigError(e, 'ERR_CONTENT_SIZE_MISMATCH'));
  assert.deepEqual(blobsOf(root), []);
  assert.deepEqual(ingestOf(root), []);
});

test('a source sending more than the announced size is stopped at the first excess chunk', async (t) => {
  const { root, store } = setup(t);
  let produced = 0;
  async function* endless() {
    for (;;) {
      produced++;
      yield Buffer.alloc(65536);
    }
  }
  await assert.rejects(store.ingest(endless(), { size: 100_000 }), (e) =>
    isBrigError(e, 'ERR_CONTENT_SIZE_MISMATCH'),
  );
  assert.equal(produced, 2);
  assert.deepEqual(ingestOf(root), []);
});

test('malformed digests are refused', async (t) => {
  const { store } = setup(t);
  for (const d of [
    'sha256:abc',
    'sha512:' + 'a'.repeat(128),
    `sha256:${'A'.repeat(64)}`,
    `sha256:../${'a'.repeat(61)}`,
  ]) {
    await assert.rejects(store.ingest(Buffer.from('x'), { digest: d as Digest }), (e) =>
      isBrigError(e, 'ERR_DIGEST_INVALID'),
    );
    assert.throws(
      () => store.blobPath(d as Digest),
      (e) => isBrigError(e, 'ERR_DIGEST_INVALID'),
    );
  }
});

test('two concurrent writers of the same blob (same ref and different refs) both succeed', async (t) => {
  const { root, store } = setup(t);
  const data = Buffer.alloc(3_000_000, 7);
  const digest = sha256(data);
  const slow = async (ref: string) => {
    const w = await store.writer({ ref, digest, size: data.length });
    for (let i = 0; i < data.length; i += 100_000) {
      await w.write(data.subarray(i, i + 100_000));
      await new Promise((r) => setImmediate(r));
    }
    return w.commit();
  };
  const results = await Promise.all([
    slow('a'),
    slow('a'),
    slow('b'),
    slow(digest),
    store.ingest(data, { digest }),
  ]);
  for (const r of results) assert.equal(r.digest, digest);
  assert.deepEqual(blobsOf(root), [digest.slice(7)]);
  assert.deepEqual(ingestOf(root), []);
  assert.deepEqual(await store.readBytes(digest, { verify: true }), data);
});

test('a writer killed mid-write leaves no visible blob; reopening cleans ingest/', async (t) => {
  const { root, db } = setup(t);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `
      const { LocalContentStore } = await import(${JSON.stringify(resolve('src/content/local-store.ts'))});
      const { openDatabase } = await import(${JSON.stringify(resolve('src/metadata/db.ts'))});
      const store = new LocalContentStore(process.argv[1], openDatabase(process.argv[1] + '/brig.db'));
      const w = await store.writer({ ref: 'crash', size: 10_000_000 });
      await w.write(Buffer.alloc(1_000_000, 1));
      process.stdout.write('ready\\n');
      setInterval(() => w.write(Buffer.alloc(1000, 2)), 1);
      `,
      root,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && res());
    child.on('exit', (code) => rej(new Error(`child exited early: ${code}`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.equal(ingestOf(root).length, 1, 'the dead ingestion is there before reopening');
  assert.deepEqual(blobsOf(root), []);
  const reopened = new LocalContentStore(root, db);
  assert.deepEqual(ingestOf(root), []);
  const seen = [];
  for await (const b of reopened.list()) seen.push(b);
  assert.deepEqual(seen, []);
});

test('leftovers of a crash between fsync and rename are removed on open', (t) => {
  const { root, db } = setup(t);
  const dir = join(root, 'content', 'ingest', 'x'.repeat(64));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data'), 'complete but unpublished');
  chmodSync(join(dir, 'data'), 0o444);
  new LocalContentStore(root, db);
  assert.equal(existsSync(dir), false);
  assert.deepEqual(blobsOf(root), []);
});

test('a resumable ingestion continues where it stopped, across a reopen', async (t) => {
  const { root, db, store } = setup(t);
  const data = Buffer.from('0123456789'.repeat(1000));
  const digest = sha256(data);
  const w1 = await store.writer({ ref: 'dl', digest, size: data.length, resume: true });
  assert.equal(w1.offset, 0);
  await w1.write(data.subarray(0, 4321));
  t.after(() => w1.abort());
  // the process "dies" here: the writer is never committed nor aborted
  const store2 = new LocalContentStore(root, db);
  const w2 = await store2.writer({ ref: 'dl', digest, size: data.length, resume: true });
  assert.equal(w2.offset, 4321);
  await w2.write(data.subarray(4321));
  assert.equal((await w2.commit()).digest, digest);
  assert.deepEqual(await store2.readBytes(digest, { verify: true }), data);
  assert.deepEqual(ingestOf(root), []);
});

test('a resumed ingestion whose earlier bytes were wrong fails the digest check', async (t) => {
  const { root, db, store } = setup(t);
  const data = Buffer.from('abcdefgh');
  const w1 = await store.writer({ ref: 'r', digest: sha256(data), resume: true });
  await w1.write(Buffer.from('XXXX'));
  t.after(() => w1.abort());
  const store2 = new LocalContentStore(root, db);
  const w2 = await store2.writer({ ref: 'r', digest: sha256(data), resume: true });
  assert.equal(w2.offset, 4);
  await w2.write(data.subarray(4));
  await assert.rejects(w2.commit(), (e) => isBrigError(e, 'ERR_CONTENT_DIGEST_MISMATCH'));
  assert.deepEqual(blobsOf(root), []);
  assert.deepEqual(ingestOf(root), []);
});

test('verify on read detects a corrupted blob', async (t) => {
  const { store } = setup(t);
  const info = await store.ingest(Buffer.from('original bytes'));
  const p = store.blobPath(info.digest);
  chmodSync(p, 0o644);
  writeFileSync(p, 'tampered bytes');
  await assert.rejects(store.readBytes(info.digest, { verify: true }), (e) =>
    isBrigError(e, 'ERR_CONTENT_CORRUPT'),
  );
  await assert.rejects(collect(store.reader(info.digest, { verify: true })), (e) =>
    isBrigError(e, 'ERR_CONTENT_CORRUPT'),
  );
  assert.deepEqual(await store.readBytes(info.digest), Buffer.from('tampered bytes'));
});

test('a missing blob is ERR_CONTENT_NOT_FOUND for every reader', async (t) => {
  const { store } = setup(t);
  const d = sha256('absent');
  await assert.rejects(store.info(d), (e) => isBrigError(e, 'ERR_CONTENT_NOT_FOUND'));
  await assert.rejects(store.readBytes(d), (e) => isBrigError(e, 'ERR_CONTENT_NOT_FOUND'));
  await assert.rejects(collect(store.reader(d)), (e) => isBrigError(e, 'ERR_CONTENT_NOT_FOUND'));
  await assert.rejects(store.delete(d), (e) => isBrigError(e, 'ERR_CONTENT_NOT_FOUND'));
  assert.equal(await store.has(d), false);
});

async function putImage(store: LocalContentStore, tag: string, lease?: string) {
  const layer = await store.ingest(Buffer.from(`layer ${tag}`), { lease });
  const config = await store.ingest(
    Buffer.from(JSON.stringify({ tag, rootfs: { type: 'layers', diff_ids: [] } })),
    { lease },
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size },
      ],
    }),
  );
  const m = await store.ingest(manifest, { lease });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size },
      ],
    }),
  );
  const i = await store.ingest(index, { lease });
  return { layer: layer.digest, config: config.digest, manifest: m.digest, index: i.digest };
}

test('gc keeps everything reachable from roots through index -> manifest -> config/layers', async (t) => {
  const { store } = setup(t);
  const a = await putImage(store, 'a');
  const b = await putImage(store, 'b');
  const stray = await store.ingest(Buffer.from('stray'));
  const res = await store.gc([a.index]);
  const removed = new Set(res.removed);
  assert.deepEqual(removed, new Set([b.index, b.manifest, b.config, b.layer, stray.digest]));
  for (const d of Object.values(a)) assert.ok(await store.has(d as Digest));
  assert.ok(res.bytes > 0);
});

test('gc keeps leased blobs (and what leased manifests reference) until the lease is deleted or expires', async (t) => {
  const { store, db } = setup(t);
  const lease = await store.createLease();
  const a = await putImage(store, 'a', lease);
  assert.deepEqual((await store.gc([])).removed, []);
  await store.deleteLease(lease);
  assert.equal((await store.gc(() => [])).removed.length, 4);
  for (const d of Object.values(a)) assert.equal(await store.has(d as Digest), false);

  const short = await store.createLease({ expiresInMs: 1 });
  await putImage(store, 'c', short);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal((await store.gc([])).removed.length, 4);
  assert.equal(db.prepare('SELECT count(*) FROM leases').pluck().get(), 0);
});

test('dropAllLeases (brigd start-up) deletes every lease, expired or not, and says what they were', async (t) => {
  const { store, db } = setup(t);
  const imp = await store.createLease({ expiresInMs: 24 * 3600_000, labels: { 'brig.import': '/x/two' } });
  const a = await putImage(store, 'a', imp);
  await store.createLease({ labels: { 'brig.pull': 'example.com/b:1' } });
  assert.deepEqual((await store.gc([])).removed, []);
  const dropped = store.dropAllLeases();
  assert.deepEqual(
    dropped.map((l) => [l.labels, l.blobs]),
    [
      [{ 'brig.import': '/x/two' }, 4],
      [{ 'brig.pull': 'example.com/b:1' }, 0],
    ],
  );
  assert.equal(dropped[0]!.id, imp);
  assert.equal(db.prepare('SELECT count(*) FROM leases').pluck().get(), 0);
  assert.equal(db.prepare('SELECT count(*) FROM lease_blobs').pluck().get(), 0);
  assert.deepEqual(new Set((await store.gc([])).removed), new Set(Object.values(a)));
  assert.deepEqual(store.dropAllLeases(), []);
});

test('the ingestions a reopen removes are listed by ref (resumable ones are kept)', async (t) => {
  const { root, db, store } = setup(t);
  const w = await store.writer({ ref: 'import-layer-1' });
  await w.write(Buffer.from('half'));
  const r = await store.writer({ ref: 'pull-layer-2', resume: true });
  await r.write(Buffer.from('half'));
  const again = new LocalContentStore(root, db);
  assert.deepEqual(again.removedAtOpen, ['import-layer-1']);
  assert.equal(readdirSync(join(root, 'content', 'ingest')).length, 1);
});

test('lease errors: unknown lease and duplicate id', async (t) => {
  const { store } = setup(t);
  await assert.rejects(store.ingest(Buffer.from('x'), { lease: 'nope' }), (e) =>
    isBrigError(e, 'ERR_LEASE_NOT_FOUND'),
  );
  await assert.rejects(store.deleteLease('nope'), (e) => isBrigError(e, 'ERR_LEASE_NOT_FOUND'));
  await store.createLease({ id: 'l1' });
  await assert.rejects(store.createLease({ id: 'l1' }), (e) => isBrigError(e, 'ERR_ALREADY_EXISTS'));
});

test('gc running concurrently with leased ingests never removes their blobs', async (t) => {
  const { store } = setup(t);
  const lease = await store.createLease();
  const digests: Digest[] = [];
  const writers = (async () => {
    for (let i = 0; i < 200; i++)
      digests.push((await store.ingest(Buffer.from(`blob ${i}`), { lease })).digest);
  })();
  for (let i = 0; i < 20; i++) await store.gc([]);
  await writers;
  await store.gc([]);
  for (const d of digests) assert.ok(await store.has(d), d);
});

test('a writer takes several buffers in one write (more than IOV_MAX too), in order, checked like one', async (t) => {
  const { root, store } = setup(t);
  const parts = Array.from({ length: 3000 }, (_, i) => Buffer.from(`part ${i};`));
  const data = Buffer.concat(parts);
  const w = await store.writer({ digest: sha256(data), size: data.length });
  await w.write(parts.slice(0, 2500));
  await w.write([]);
  await w.write(parts[2500]!);
  await w.write(parts.slice(2501));
  assert.equal(w.offset, data.length);
  const info = await w.commit();
  assert.equal(info.digest, sha256(data));
  assert.deepEqual(await store.readBytes(info.digest, { verify: true }), data);

  // more than announced, in one array: refused at once, nothing left
  const w2 = await store.writer({ digest: sha256(data), size: 10, ref: 'short' });
  await assert.rejects(w2.write([Buffer.alloc(6), Buffer.alloc(6)]), (e) =>
    isBrigError(e, 'ERR_CONTENT_SIZE_MISMATCH'),
  );
  assert.deepEqual(ingestOf(root), []);
});

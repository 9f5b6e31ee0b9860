/**
 * ImportOptions.signal: an import cancelled while it copies blobs (brigd: the client went away)
 * rejects with the signal's reason and leaves nothing: no image record, no lease, no ingestion,
 * no blob it had added. The source is an OCI archive exported from another store; the
 * destination's writers stop at their first write until the test has aborted.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { LocalContentStore } from '../content/local-store.ts';
import type { ContentStore, Writer } from '../content/store.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { openDatabase } from '../metadata/db.ts';
import { LocalImageService } from './local-image-service.ts';

const platform = { os: 'linux', architecture: 'amd64' };

/** An OCI archive of a one-layer image (a small tree imported into a scratch store, exported). */
async function archive(t: TestContext): Promise<string> {
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const images = new LocalImageService({ content: new LocalContentStore(root, db), db, platform });
  const tree = join(root, 'tree');
  await mkdir(join(tree, 'etc'), { recursive: true });
  await writeFile(join(tree, 'etc', 'motd'), 'cancel me\n'.repeat(10_000));
  await images.import(tree, { name: 'app:1' });
  const out = join(tempDir(t), 'app.tar');
  await images.export('app:1', out);
  return out;
}

/** A content store whose writers wait at their first write until `release()`; `reached` says one did. */
function gatedStore(inner: ContentStore) {
  let release!: () => void;
  const open = new Promise<void>((r) => {
    release = r;
  });
  let reached!: () => void;
  const arrived = new Promise<void>((r) => {
    reached = r;
  });
  const gateWriter = (w: Writer): Writer => ({
    get offset() {
      return w.offset;
    },
    async write(chunk) {
      reached();
      await open;
      return w.write(chunk);
    },
    commit: () => w.commit(),
    abort: () => w.abort(),
  });
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'writer')
        return async (o: Parameters<ContentStore['writer']>[0]) => gateWriter(await target.writer(o));
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { store, release, arrived };
}

test('an import cancelled mid-copy records nothing and leaves no lease, ingestion or blob', async (t) => {
  const source = await archive(t);
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(root, db);
  const gate = gatedStore(content);
  const images = new LocalImageService({ content: gate.store, db, platform });

  const ac = new AbortController();
  const importing = images.import(source, { name: 'app:1', signal: ac.signal });
  await gate.arrived; // a blob is being copied
  ac.abort(new BrigError('ERR_REQUEST_CANCELLED', 'the client went away'));
  gate.release();
  await assert.rejects(importing, (e) => isBrigError(e, 'ERR_REQUEST_CANCELLED'));

  assert.deepEqual(await images.list(), []);
  assert.deepEqual(db.prepare('SELECT id FROM leases').all(), []);
  assert.deepEqual(readdirSync(join(root, 'content', 'ingest')), []);
  const blobs: string[] = [];
  for await (const b of content.list()) blobs.push(b.digest);
  assert.deepEqual(blobs, []);

  // the store is usable: the same archive imports
  const r = await new LocalImageService({ content, db, platform }).import(source, { name: 'app:1' });
  assert.deepEqual(r.names, ['docker.io/library/app:1']);
});

test('an import whose signal is already aborted does not start', async (t) => {
  const source = await archive(t);
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const images = new LocalImageService({ content: new LocalContentStore(root, db), db, platform });
  const ac = new AbortController();
  ac.abort(new BrigError('ERR_REQUEST_CANCELLED', 'gone'));
  await assert.rejects(images.import(source, { signal: ac.signal }), (e) =>
    isBrigError(e, 'ERR_REQUEST_CANCELLED'),
  );
  assert.deepEqual(await images.list(), []);
  assert.deepEqual(db.prepare('SELECT id FROM leases').all(), []);
});

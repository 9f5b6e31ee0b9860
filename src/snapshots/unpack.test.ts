import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, type TestContext, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { requires } from '../../test/support/require.ts';
import { imageOf, snapshotNames } from '../../test/support/snapshots.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { LocalContentStore } from '../content/local-store.ts';
import type { Descriptor, Digest } from '../content/store.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { openDatabase } from '../metadata/db.ts';
import { mountAll, unmountAll } from './mount.ts';
import { NativeSnapshotter } from './native/native-snapshotter.ts';
import { OverlaySnapshotter } from './overlay/overlay-snapshotter.ts';
import type { Snapshotter } from './snapshotter.ts';
import { type ApplyOptions, chainIds, prepareImageRootfs } from './unpack.ts';

const hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

test('chain ids follow the image spec', () => {
  const d = [`sha256:${hex('a')}`, `sha256:${hex('b')}`, `sha256:${hex('c')}`];
  const c = chainIds(d);
  assert.equal(c[0], d[0]);
  assert.equal(c[1], `sha256:${hex(`${d[0]} ${d[1]}`)}`);
  assert.equal(c[2], `sha256:${hex(`${c[1]} ${d[2]}`)}`);
  assert.deepEqual(chainIds([]), []);
});

/** A stand-in for src/layers' applyLayer: checks digests, extracts with GNU tar (the oracle). */
function tarApplier(dir: string, calls: ApplyOptions[]) {
  return async (source: Readable, opts: ApplyOptions): Promise<void> => {
    calls.push(opts);
    const chunks: Buffer[] = [];
    for await (const c of source) chunks.push(c as Buffer);
    const blob = Buffer.concat(chunks);
    if (opts.expectedDigest && `sha256:${hex(blob)}` !== opts.expectedDigest) {
      throw new BrigError('ERR_CONTENT_DIGEST_MISMATCH', 'layer digest');
    }
    const tar = blob[0] === 0x1f ? gunzipSync(blob) : blob;
    if (opts.expectedDiffId && `sha256:${hex(tar)}` !== opts.expectedDiffId) {
      throw new BrigError('ERR_CONTENT_DIGEST_MISMATCH', 'diff id');
    }
    const f = join(dir, `layer-${Math.random()}.tar`);
    writeFileSync(f, tar);
    execFileSync('tar', ['-xf', f, '-C', opts.root]);
  };
}

async function setup(
  t: TestContext,
  make: (db: ReturnType<typeof openDatabase>, dir: string) => Snapshotter,
) {
  const dir = tempDir(t, 'brig-unpack-');
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(dir, db);
  const s = make(db, dir);
  const calls: ApplyOptions[] = [];
  let n = 0;
  /** A gzip layer holding `files`. */
  const layer = async (files: Record<string, string>) => {
    const src = join(dir, `src-${n++}`);
    mkdirSync(src);
    for (const [p, v] of Object.entries(files)) {
      mkdirSync(join(src, p, '..'), { recursive: true });
      writeFileSync(join(src, p), v);
    }
    const tar = execFileSync('tar', ['-cf', '-', '--sort=name', '--owner=0', '--group=0', '-C', src, '.']);
    const gz = gzipSync(tar);
    const info = await content.ingest(gz);
    const desc: Descriptor = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: info.digest,
      size: gz.length,
    };
    return { desc, diffId: `sha256:${hex(tar)}` as Digest };
  };
  const names = () => snapshotNames(s);
  return { dir, s, content, calls, apply: tarApplier(dir, calls), layer, image: imageOf, names };
}

const drivers: Array<[string, (db: ReturnType<typeof openDatabase>, dir: string) => Snapshotter]> = [
  ['native', (db, dir) => new NativeSnapshotter(db, join(dir, 'snapshots', 'native'))],
  ['overlay', (db, dir) => new OverlaySnapshotter(db, join(dir, 'snapshots', 'overlay'))],
];

for (const [driver, make] of drivers) {
  describe(`prepareImageRootfs (${driver})`, () => {
    test('unpacks each layer once under its chain id and shares it', async (t) => {
      const { s, content, calls, apply, layer, image, names } = await setup(t, make);
      const base = await layer({ 'etc/os': 'base', 'bin/sh': 'sh' });
      const app = await layer({ 'app/run': 'app' });
      const other = await layer({ 'other/x': 'x' });
      const ids = chainIds([base.diffId, app.diffId]);
      await prepareImageRootfs(s, content, image(base, app), 'c1', { apply, labels: { container: 'c1' } });
      assert.equal(calls.length, 2);
      assert.equal(calls[0]!.expectedDigest, base.desc.digest);
      assert.equal(calls[0]!.expectedDiffId, base.diffId);
      assert.equal(calls[0]!.whiteouts, driver === 'overlay' ? 'overlay' : 'delete');
      assert.deepEqual(await names(), ['c1', ...ids].sort());
      assert.equal((await s.stat('c1')).parent, ids[1]);
      assert.deepEqual((await s.stat('c1')).labels, { container: 'c1' });
      // the same image again: nothing applied
      await prepareImageRootfs(s, content, image(base, app), 'c2', { apply });
      assert.equal(calls.length, 2);
      // an image sharing the base: only its own layer
      await prepareImageRootfs(s, content, image(base, other), 'c3', { apply });
      assert.equal(calls.length, 3);
      assert.equal((await s.stat('c3')).parent, chainIds([base.diffId, other.diffId])[1]);
      // the container sees both layers (native: its own copy; overlay: upper is empty, lower holds them)
      const dw = await s.directWrite('c1');
      if (driver === 'native') {
        assert.equal(readFileSync(join(dw!.root, 'etc/os'), 'utf8'), 'base');
        assert.equal(readFileSync(join(dw!.root, 'app/run'), 'utf8'), 'app');
      } else {
        const [m] = await s.mounts('c1');
        assert.equal(m!.type, 'overlay');
      }
      assert.deepEqual((await s.cleanup()).removed, []);
    });

    test('concurrent unpacks of one image do not collide', async (t) => {
      const { s, content, calls, apply, layer, image, names } = await setup(t, make);
      const img = image(await layer({ a: '1' }), await layer({ b: '2' }), await layer({ c: '3' }));
      await Promise.all(['k1', 'k2', 'k3'].map((k) => prepareImageRootfs(s, content, img, k, { apply })));
      assert.equal(calls.length, 3);
      assert.deepEqual(await names(), [...chainIds(img.diffIds), 'k1', 'k2', 'k3'].sort());
    });

    test('a failure removes what the call created, and only that', async (t) => {
      const { s, content, apply, layer, image, names } = await setup(t, make);
      const base = await layer({ a: '1' });
      const mid = await layer({ b: '2' });
      const bad = await layer({ c: '3' });
      await prepareImageRootfs(s, content, image(base), 'keep', { apply });
      const before = await names();
      const broken = { ...bad, diffId: `sha256:${hex('not it')}` as Digest };
      await assert.rejects(
        prepareImageRootfs(s, content, image(base, mid, broken), 'c', { apply }),
        (e: unknown) => isBrigError(e, 'ERR_CONTENT_DIGEST_MISMATCH'),
      );
      assert.deepEqual(await names(), before);
      assert.deepEqual((await s.cleanup()).removed, []);
      // the container key is taken: the layers unpacked for it are removed again
      await assert.rejects(
        prepareImageRootfs(s, content, image(base, mid), 'keep', { apply }),
        (e: unknown) => isBrigError(e, 'ERR_SNAPSHOT_EXISTS'),
      );
      assert.deepEqual(await names(), before);
      // a blob missing from the content store
      const missing = {
        desc: { ...mid.desc, digest: `sha256:${hex('missing')}` as Digest },
        diffId: mid.diffId,
      };
      await assert.rejects(prepareImageRootfs(s, content, image(base, missing), 'd', { apply }));
      assert.deepEqual(await names(), before);
      await assert.rejects(
        prepareImageRootfs(s, content, { layers: [base.desc], diffIds: [] }, 'e', { apply }),
        (e: unknown) => isBrigError(e, 'ERR_IMAGE_INVALID'),
      );
    });

    test('an image without layers gets an empty active snapshot', async (t) => {
      const { s, content, apply } = await setup(t, make);
      await prepareImageRootfs(s, content, { layers: [], diffIds: [] }, 'empty', { apply });
      assert.equal((await s.stat('empty')).parent, undefined);
    });
  });
}

for (const [driver, make] of drivers)
  for (const direct of [true, false]) {
    test(
      `prepareImageRootfs (${driver}, ${direct ? 'directWrite' : 'through a mount'}) with the real applyLayer: whiteouts and opaque dirs, seen through the mounts`,
      requires({ root: true, commands: ['mount', 'umount'] }),
      async (t) => {
        const { dir, s, content, layer, image } = await setup(t, make);
        const l1 = await layer({
          'a.txt': 'a',
          'keep/b.txt': 'b',
          'opq/old1': '1',
          'opq/old2': '2',
          'gone/x': 'x',
        });
        const l2 = await layer({
          '.wh.a.txt': '',
          '.wh.gone': '',
          'opq/.wh..wh..opq': '',
          'opq/new': 'n',
          'keep/b.txt': 'b2',
        });
        const l3 = await layer({ 'a.txt': 'back' });
        const mounts = await prepareImageRootfs(s, content, image(l1, l2), 'c', { direct });
        const target = join(dir, 'mnt');
        mkdirSync(target);
        await mountAll(mounts, target);
        try {
          assert.deepEqual(readdirSync(target).sort(), ['keep', 'opq']);
          assert.deepEqual(readdirSync(join(target, 'opq')), ['new']);
          assert.equal(readFileSync(join(target, 'keep', 'b.txt'), 'utf8'), 'b2');
        } finally {
          await unmountAll(mounts, target);
        }
        // a later layer brings a deleted file back
        const m3 = await prepareImageRootfs(s, content, image(l1, l2, l3), 'c3', { direct });
        await mountAll(m3, target);
        try {
          assert.deepEqual(readdirSync(target).sort(), ['a.txt', 'keep', 'opq']);
          assert.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'back');
        } finally {
          await unmountAll(m3, target);
        }
      },
    );
  }

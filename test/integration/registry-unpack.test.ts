/**
 * brigd's pull unpacks layers into its snapshotter as they arrive (docs/registries.md, "Pull"),
 * against docker-registry on 127.0.0.1 and the built daemon and CLI (dist/; `npm test` builds
 * first):
 *   - after a pull the chain's committed snapshots exist, and `brig run` adds only its own active
 *     snapshot on top: the committed rows are the very same (no unpack at first run);
 *   - `--no-unpack` makes no snapshot (the first run unpacks);
 *   - a hostile layer fails the pull with the layer's code, leaving no snapshot and no image;
 *   - pipelining: a proxy holds back the last layer's bytes until the test has seen the first
 *     layer's snapshot committed (without pipelining the pull could not finish);
 *   - two concurrent pulls sharing a base layer unpack it once.
 * The snapshots table is read from brig.db (read-only) while brigd runs.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { chainIds } from '../../src/snapshots/unpack.ts';
import { startDaemon } from '../support/daemon.ts';
import { type Brig, brig, holdProxy, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import {
  apiPull,
  assertCommittedChain,
  assertUnsafeLayer,
  busyboxLayer,
  hostileLayer,
  type Layer,
  layerOf,
  ownSnapshot,
  pullsSharingBase,
  snapshotRows,
  storeImage,
} from './pull-support.ts';

const needs = requires({ root: true, linux: true, commands: ['docker-registry', 'umoci', 'conmon'] });

/** Stores an image of `layers` in src's content store and pushes it as `ref`. */
async function pushImage(src: Brig, ref: string, layers: Layer[]): Promise<void> {
  await src.registry.push(ref, await storeImage(src.content, layers));
}

async function setup(t: TestContext, registryHost?: (port: number) => Promise<string>) {
  const reg = await startRegistry(t);
  const host = registryHost ? await registryHost(reg.port) : reg.host;
  const src = brig(t, { insecure: [reg.host] });
  const d = await startDaemon(t, { config: { registries: { insecure: [host] } } });
  return { reg, host, src, d };
}

const extra = () => layerOf([{ name: 'hello', data: 'hello from the second layer\n' }]);

describe('pull unpacks as layers arrive', needs, () => {
  test('after a pull the chain is committed and brig run unpacks nothing', async (t) => {
    const { reg, d, src } = await setup(t);
    const layers = [busyboxLayer(), extra()];
    const name = `${reg.host}/u/two:1`;
    await pushImage(src, name, layers);

    const r = await d.brig(['pull', name]);
    assert.equal(r.code, 0, r.stderr);
    const l1 = layers[1]!.desc.digest.slice(7, 19);
    assert.match(r.stderr, new RegExp(`${l1}: Extracting`));
    assert.match(r.stderr, new RegExp(`${l1}: Pull complete`));
    const chain = chainIds(layers.map((l) => l.diffId));
    const pulled = snapshotRows(d);
    assertCommittedChain(pulled, chain);
    for (const s of pulled) assert.equal(JSON.parse(s.labels)['brig.chainid'], s.key);

    const run = await d.brig(['run', '--rm', name, '/bin/cat', '/hello']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, 'hello from the second layer\n');
    // the committed rows are the very same rows (created_at, storage): nothing was unpacked again
    assert.deepEqual(snapshotRows(d), pulled);
    // a running container's own snapshot sits on the pulled chain
    const bg = await d.brig(['run', '-d', '--name', 'reuse', name, '/bin/sleep', '600']);
    assert.equal(bg.code, 0, bg.stderr);
    try {
      assert.match(ownSnapshot(d, pulled, chain[1]).key, /^ctr-/);
    } finally {
      assert.equal((await d.brig(['rm', '-f', 'reuse'])).code, 0);
    }
  });

  test('--no-unpack makes no snapshot; the first run unpacks', async (t) => {
    const { reg, d, src } = await setup(t);
    const layers = [busyboxLayer(), extra()];
    const name = `${reg.host}/u/two:1`;
    await pushImage(src, name, layers);

    const r = await d.brig(['pull', '--no-unpack', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /Extracting|Pull complete/);
    assert.deepEqual(snapshotRows(d), []);
    const api = await apiPull(d, { reference: name, unpack: false });
    assert.equal(api.result.unpacked, false);
    assert.deepEqual(snapshotRows(d), []);

    const run = await d.brig(['run', '--rm', name, '/bin/cat', '/hello']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      snapshotRows(d).map((s) => s.key),
      chainIds(layers.map((l) => l.diffId)).sort(),
    );
  });

  test('a hostile layer fails the pull with its code; no snapshot, no image is left', async (t) => {
    const { reg, d, src } = await setup(t);
    const hostile = hostileLayer();
    const name = `${reg.host}/u/hostile:1`;
    await pushImage(src, name, [busyboxLayer(), hostile]);

    await assertUnsafeLayer(apiPull(d, { reference: name }));
    // the busybox layer this pull had committed is gone again
    assert.deepEqual(snapshotRows(d), []);
    const images = await d.brig(['images', '--json']);
    assert.equal(images.code, 0, images.stderr);
    assert.deepEqual(JSON.parse(images.stdout), []);

    const cli = await d.brig(['pull', name]);
    assert.equal(cli.code, 125);
    assert.deepEqual(snapshotRows(d), []);
  });

  test('layer 0 is committed while the last layer is still held back by the registry', async (t) => {
    const layers = [busyboxLayer(), extra()];
    const held = layers[1]!.desc.digest;
    let proxy!: Awaited<ReturnType<typeof holdProxy>>;
    const { d, src, reg, host } = await setup(t, async (port) => {
      proxy = await holdProxy(t, port, [held]);
      return proxy.host;
    });
    await pushImage(src, `${reg.host}/u/two:1`, layers);
    const chain = chainIds(layers.map((l) => l.diffId));

    let sawFirst = false;
    const { progress, result } = await apiPull(d, { reference: `${host}/u/two:1` }, async (p) => {
      if (p.id === layers[0]!.desc.digest && p.status === 'unpacked') {
        sawFirst = true;
        // the last layer has not been sent yet, and layer 0's snapshot is committed
        assert.equal(proxy.sent(held), false);
        const rows = snapshotRows(d);
        assert.deepEqual(
          rows.filter((s) => s.kind === 'committed').map((s) => s.key),
          [chain[0]],
        );
        proxy.release(held);
      }
      if (p.id === held && p.status === 'done')
        assert.ok(sawFirst, 'layer 1 arrived after layer 0 was unpacked');
    });
    assert.ok(sawFirst);
    assert.equal(result.chainId, chain[1]);
    assert.ok(progress.some((p) => p.id === held && p.status === 'unpacked'));
    assert.deepEqual(
      snapshotRows(d).map((s) => s.key),
      [...chain].sort(),
    );
  });

  test('a layer that fails to unpack cancels the downloads still in flight', async (t) => {
    const hostile = layerOf([{ name: '../sentinel/pwned', data: 'x' }]);
    const big = busyboxLayer();
    let proxy!: Awaited<ReturnType<typeof holdProxy>>;
    const { d, src, reg, host } = await setup(t, async (port) => {
      proxy = await holdProxy(t, port, [hostile.desc.digest, big.desc.digest]);
      return proxy.host;
    });
    await pushImage(src, `${reg.host}/u/cancel:1`, [hostile, big]);
    const pulling = apiPull(d, { reference: `${host}/u/cancel:1` });
    pulling.catch(() => {});
    // both downloads are under way; the hostile one goes through, the big one never does
    await proxy.arrived(big.desc.digest);
    proxy.release(hostile.desc.digest);
    await assertUnsafeLayer(pulling);
    assert.equal(proxy.sent(big.desc.digest), false);
    // the cancelled ingestion is gone, nothing of the image stays
    assert.deepEqual(readdirSync(join(d.root, 'content', 'ingest')), []);
    assert.equal(existsSync(join(d.root, 'content', 'blobs', 'sha256', big.desc.digest.slice(7))), false);
    assert.deepEqual(snapshotRows(d), []);
    assert.deepEqual(JSON.parse((await d.brig(['images', '--json'])).stdout), []);
  });

  test('concurrent pulls sharing a base layer unpack it once', async (t) => {
    const { reg, d, src } = await setup(t);
    const base = busyboxLayer();
    const a = layerOf([{ name: 'a', data: 'a' }]);
    const b = layerOf([{ name: 'b', data: 'b' }]);
    await pushImage(src, `${reg.host}/u/a:1`, [base, a]);
    await pushImage(src, `${reg.host}/u/b:1`, [base, b]);
    const [ra, rb] = await pullsSharingBase(d, [`${reg.host}/u/a:1`, `${reg.host}/u/b:1`], base);
    const ca = chainIds([base.diffId, a.diffId]);
    const cb = chainIds([base.diffId, b.diffId]);
    assert.equal(ra.result.chainId, ca[1]);
    assert.equal(rb.result.chainId, cb[1]);
    assert.deepEqual(
      snapshotRows(d).map((s) => [s.key, s.kind]),
      [ca[0], ca[1], cb[1]].sort().map((k) => [k, 'committed']),
    );
  });
});

/**
 * Bounded concurrency (docs/registries.md): a pull never has more than
 * `registries.maxConcurrentDownloads` blob GETs in flight, a push never more than
 * `registries.maxConcurrentUploads` blob uploads. A proxy in front of docker-registry holds every
 * blob request until the test releases it, one at a time, and counts how many are in flight.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { brig, type GateProxy, gateProxy, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { layerOf, storeImage } from './pull-support.ts';

const needs = requires({ commands: ['docker-registry'] });
const linux = { platforms: [{ os: 'linux', architecture: 'amd64' }] };
const LIMIT = 2; // below the default (3), so the setting is what bounds the count
const LAYERS = 5;

const layers = () =>
  Array.from({ length: LAYERS }, (_, i) =>
    layerOf([{ name: `f${i}`, data: `layer ${i}\n`.repeat(200 + i) }]),
  );

/**
 * With every gated request held: exactly LIMIT arrive (and no more after a pause); then each
 * release lets exactly one more in, until all `total` came; in flight never above LIMIT.
 */
async function assertBounded(proxy: GateProxy, total: number, whileHeld = () => {}): Promise<void> {
  await proxy.waitFor(LIMIT);
  await sleep(200); // a client that ignored the limit would have sent the rest by now
  assert.equal(proxy.arrived, LIMIT, 'only LIMIT requests before a release');
  whileHeld();
  for (let n = LIMIT + 1; n <= total; n++) {
    proxy.releaseNext();
    await proxy.waitFor(n);
    assert.ok(proxy.inFlight <= LIMIT, `in flight: ${proxy.inFlight}`);
  }
  proxy.releaseAll();
}

describe('registry concurrency limits', needs, () => {
  test(`a pull has at most maxConcurrentDownloads (${LIMIT}) blob GETs in flight`, async (t) => {
    const reg = await startRegistry(t);
    const src = brig(t, { insecure: [reg.host] });
    const image = await storeImage(src.content, layers());
    await src.registry.push(`${reg.host}/limits/pull:1`, image);

    const proxy = await gateProxy(t, reg.port, (m, p) => m === 'GET' && p.includes('/blobs/sha256:'));
    const b = brig(t, { insecure: [proxy.host], maxConcurrentDownloads: LIMIT });
    const pulling = b.registry.pull(`${proxy.host}/limits/pull:1`, linux);
    await assertBounded(proxy, LAYERS + 1); // the layers and the config
    const pulled = await pulling;
    assert.equal(pulled.manifest.digest, image.digest);
    assert.equal(proxy.arrived, LAYERS + 1);
    assert.equal(proxy.maxInFlight, LIMIT);
  });

  test(`a push has at most maxConcurrentUploads (${LIMIT}) blob uploads in flight`, async (t) => {
    const reg = await startRegistry(t);
    // the PUT that carries a blob's bytes (monolithic upload) is held
    const proxy = await gateProxy(t, reg.port, (m, p) => m === 'PUT' && p.includes('/blobs/uploads/'));
    const a = brig(t, { insecure: [proxy.host], maxConcurrentUploads: LIMIT });
    const image = await storeImage(a.content, layers());
    const pushing = a.registry.push(`${proxy.host}/limits/push:1`, image);
    await assertBounded(proxy, LAYERS + 1, () => {
      // and only LIMIT upload sessions opened so far
      const posts = proxy.seen.filter((r) => r.method === 'POST' && r.path.includes('/blobs/uploads/'));
      assert.equal(posts.length, LIMIT, JSON.stringify(proxy.seen));
    });
    const pushed = await pushing;
    assert.equal(pushed.digest, image.digest);
    assert.equal(proxy.arrived, LAYERS + 1);
    assert.equal(proxy.maxInFlight, LIMIT);
    // what was pushed pulls back whole
    const b = brig(t, { insecure: [reg.host] });
    assert.equal((await b.registry.pull(`${reg.host}/limits/push:1`, linux)).manifest.digest, image.digest);
  });
});

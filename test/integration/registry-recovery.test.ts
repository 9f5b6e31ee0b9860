/**
 * How a pull recovers (docs/registries.md, "Pull", "Mirrors"), against docker-registry behind the
 * fault proxy of test/support/registry.ts:
 *   - a connection closed mid-blob is resumed: the second GET asks for the rest with Range, the
 *     registry answers 206, and no byte is fetched twice (`bytesFetched` = the blobs' sizes);
 *   - a registry that ignores Range (answers 200 whole) makes that blob start over: the pull still
 *     ends with the right digest, and the kept half counts as fetched twice;
 *   - mirrors that fail (one refuses connections, one lacks the image) are skipped in order and
 *     the registry itself answers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import type { Digest } from '../../src/content/store.ts';
import { assertNoSecret, brig, startFaultProxy, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { layerOf, storeImage } from './pull-support.ts';

const needs = requires({ commands: ['docker-registry'] });
const linux = { platforms: [{ os: 'linux', architecture: 'amd64' }] };

/** An image of one incompressible 256 KiB layer pushed as r/app:1; a brig pulling through a fault proxy. */
async function setup(t: TestContext) {
  const reg = await startRegistry(t);
  const src = brig(t, { insecure: [reg.host] });
  const layer = layerOf([{ name: 'noise', data: randomBytes(256 * 1024) }]);
  const image = await storeImage(src.content, [layer]);
  await src.registry.push(`${reg.host}/r/app:1`, image);
  const manifest = JSON.parse((await src.content.readBytes(image.digest)).toString()) as {
    config: { size: number };
  };
  const proxy = await startFaultProxy(t, reg.port);
  const b = brig(t, { insecure: [proxy.host] });
  const digest = layer.desc.digest as Digest;
  const gets = () => proxy.seen.filter((r) => r.method === 'GET' && r.path.endsWith(digest));
  return { reg, image, proxy, b, digest, layer, gets, blobBytes: layer.bytes.length + manifest.config.size };
}

describe('pull recovery', needs, () => {
  test('a blob cut mid-way is resumed with a 206 answer and no byte is fetched twice', async (t) => {
    const { image, proxy, b, digest, gets, blobBytes } = await setup(t);
    proxy.faults.cutBlob = digest;
    const pulled = await b.registry.pull(`${proxy.host}/r/app:1`, linux);
    assert.equal(pulled.manifest.digest, image.digest);
    assert.equal(await b.content.has(digest), true);
    const [first, second] = gets();
    assert.equal(gets().length, 2);
    assert.equal(first!.range, undefined);
    assert.match(second!.range ?? '', /^bytes=[1-9]\d*-$/);
    assert.equal(second!.status, 206);
    assert.equal(pulled.bytesFetched, blobBytes);
  });

  test('a registry that ignores Range: the blob starts over and the pull still succeeds', async (t) => {
    const { image, proxy, b, digest, gets, layer, blobBytes } = await setup(t);
    proxy.faults.cutBlob = digest;
    proxy.faults.ignoreRange = true;
    const pulled = await b.registry.pull(`${proxy.host}/r/app:1`, linux);
    assert.equal(pulled.manifest.digest, image.digest);
    assert.equal(await b.content.has(digest), true);
    assert.equal(gets().length, 2);
    assert.equal(gets()[1]!.status, 200);
    // the half kept from the first GET was fetched again
    assert.equal(pulled.bytesFetched, blobBytes + (layer.bytes.length >> 1));
  });

  test('a connection reset before the manifest answer is retried', async (t) => {
    const { image, proxy, b } = await setup(t);
    proxy.faults.reset = { method: 'GET', path: '/manifests/', count: 2 };
    const pulled = await b.registry.pull(`${proxy.host}/r/app:1`, linux);
    assert.equal(pulled.manifest.digest, image.digest);
    assert.equal(proxy.faults.reset.count, 0);
  });

  test('mirrors that fail are skipped in order, then the registry answers', async (t) => {
    const reg = await startRegistry(t);
    const src = brig(t, { insecure: [reg.host] });
    const image = await storeImage(src.content, [layerOf([{ name: 'f', data: 'from the registry\n' }])]);
    await src.registry.push(`${reg.host}/m/app:1`, image);
    // a mirror without the image (seen through a proxy), and one that drops every connection
    const empty = await startFaultProxy(t, (await startRegistry(t)).port);
    let dropped = 0;
    const dead = createServer((sock) => {
      dropped++;
      sock.destroy();
    });
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => dead.close(() => r())));
    const deadHost = `127.0.0.1:${(dead.address() as AddressInfo).port}`;
    const b = brig(t, {
      insecure: [reg.host, empty.host, deadHost],
      mirrors: { [reg.host]: [`http://${deadHost}`, `http://${empty.host}`] },
    });
    const pulled = await b.registry.pull(`${reg.host}/m/app:1`, linux);
    assert.equal(pulled.manifest.digest, image.digest);
    assert.equal(pulled.source, reg.host);
    assert.equal(pulled.reference, `${reg.host}/m/app:1`);
    assert.ok(dropped >= 1, 'the first mirror was tried');
    assert.deepEqual(
      empty.seen.filter((r) => r.path.includes('/manifests/')).map((r) => r.status),
      [404],
      'the second mirror was asked once and lacked the image',
    );
  });
});

describe('push recovery', needs, () => {
  test('an upload whose connection is reset goes up again in a new session; no credential in the retry message', async (t) => {
    const user = 'fay';
    const password = 'upl0ad-pw-73b1';
    const reg = await startRegistry(t, { htpasswd: { [user]: password } });
    const proxy = await startFaultProxy(t, reg.port);
    const a = brig(t, { insecure: [proxy.host] });
    await a.registry.login(proxy.host, { username: user, password });
    const layer = layerOf([{ name: 'noise', data: randomBytes(64 * 1024) }]);
    const image = await storeImage(a.content, [layer]);
    proxy.faults.reset = { method: 'PUT', path: '/blobs/uploads/', count: 1 };
    const progress: { id: string; status: string; message?: string }[] = [];
    const pushed = await a.registry.push(`${proxy.host}/p/app:1`, image, {
      onProgress: (e) => progress.push(e),
    });
    assert.equal(pushed.digest, image.digest);
    assert.equal(proxy.faults.reset.count, 0);
    const retrying = progress.filter((e) => e.status === 'retrying');
    assert.equal(retrying.length, 1);
    assertNoSecret([JSON.stringify(progress)], user, password, 'no credential in progress');
    // two upload sessions for the blob that was reset; its bytes are whole in the registry
    const puts = proxy.seen.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/'));
    assert.deepEqual(
      puts.map((r) => String(r.status)).sort(),
      ['201', '201', 'undefined'],
      'one reset, then the layer and the config went up',
    );
    const sessions = proxy.seen.filter(
      (r) => r.method === 'POST' && r.path.includes('/blobs/uploads/') && r.status === 202,
    );
    assert.equal(sessions.length, 3, 'a new session for the retry');
    const b = brig(t, { insecure: [proxy.host] });
    await b.registry.login(proxy.host, { username: user, password });
    const pulled = await b.registry.pull(`${proxy.host}/p/app:1`, linux);
    assert.equal(pulled.manifest.digest, image.digest);
    assert.equal(await b.content.has(layer.desc.digest as Digest), true);
  });
});

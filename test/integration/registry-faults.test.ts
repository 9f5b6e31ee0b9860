/**
 * Faults between brig and a registry, injected by a proxy (test/support/registry.ts): a
 * connection closed mid-blob (resumed with Range), a blob with wrong content (refused, nothing
 * stored), 429 with Retry-After and 503 (retried); and pushes that exercise chunked uploads and
 * the merge of one platform into an existing multi-platform index.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { Digest } from '../../src/content/store.ts';
import { isBrigError } from '../../src/errors/errors.ts';
import {
  brig,
  buildBusybox,
  deriveImage,
  importLayout,
  startFaultProxy,
  startRegistry,
  storeIndex,
} from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const needs = requires({ root: true, commands: ['docker-registry', 'skopeo', 'umoci'] });
const linux = { platforms: [{ os: 'linux', architecture: 'amd64' }] };

function layerOf(layout: string): Digest {
  // the fixture has one layer: the largest blob
  const dir = join(layout, 'blobs', 'sha256');
  return `sha256:${readdirSync(dir).sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0]}`;
}

/**
 * The busybox fixture pushed as f/bb:1 to a new registry, a fault proxy in front of it, and a
 * brig that pulls `ref` through the proxy; `layer` is the fixture's layer.
 */
async function busyboxBehindProxy(t: TestContext) {
  const reg = await startRegistry(t);
  const proxy = await startFaultProxy(t, reg.port);
  const bb = buildBusybox(join(tempDir(t), 'img'));
  const src = brig(t, { insecure: [reg.host] });
  const target = await importLayout(src.content, bb);
  await src.registry.push(`${reg.host}/f/bb:1`, target);
  const b = brig(t, { insecure: [proxy.host] });
  return { proxy, target, layer: layerOf(bb), b, ref: `${proxy.host}/f/bb:1` };
}

describe('registry faults', needs, () => {
  test('a connection closed mid-blob is resumed with a Range request', async (t) => {
    const { proxy, target, layer, b, ref } = await busyboxBehindProxy(t);
    proxy.faults.cutBlob = layer;
    const pulled = await b.registry.pull(ref, linux);
    assert.equal(pulled.manifest.digest, target.digest);
    assert.equal(await b.content.has(layer), true);
    const gets = proxy.seen.filter((r) => r.method === 'GET' && r.path.endsWith(layer));
    assert.equal(gets.length, 2);
    assert.match(gets[1]!.range ?? '', /^bytes=[1-9]\d*-$/);
  });

  test('a blob with wrong content is refused and nothing of it is stored', async (t) => {
    const { proxy, layer, b, ref } = await busyboxBehindProxy(t);
    proxy.faults.corruptBlob = layer;
    await assert.rejects(b.registry.pull(ref, linux), (e) => isBrigError(e, 'ERR_CONTENT_DIGEST_MISMATCH'));
    assert.equal(await b.content.has(layer), false);
    assert.deepEqual(readdirSync(join(b.root, 'content', 'ingest')), []);
  });

  test('429 with Retry-After and 503 are retried, then the pull succeeds', async (t) => {
    const { proxy, target, b, ref } = await busyboxBehindProxy(t);
    proxy.faults.tooMany = 1;
    proxy.faults.unavailable = 2;
    const started = Date.now();
    const pulled = await b.registry.pull(ref, linux);
    assert.equal(pulled.manifest.digest, target.digest);
    assert.ok(Date.now() - started >= 900, 'Retry-After: 1 was honoured');
    assert.equal(proxy.faults.tooMany, 0);
    assert.equal(proxy.faults.unavailable, 0);
  });

  test('429 with a Retry-After beyond the limit fails with ERR_REGISTRY_TOO_MANY_REQUESTS', async (t) => {
    const reg = await startRegistry(t);
    const proxy = await startFaultProxy(t, reg.port);
    proxy.faults.tooMany = 100;
    const b = brig(t, { insecure: [proxy.host] });
    const r = b.registry as unknown as { transport: { retry: { maxRetryAfterMs: number } } };
    r.transport.retry.maxRetryAfterMs = 500;
    await assert.rejects(b.registry.pull(`${proxy.host}/f/bb:1`, linux), (e) =>
      isBrigError(e, 'ERR_REGISTRY_TOO_MANY_REQUESTS'),
    );
  });
});

describe('push: chunked uploads and multi-platform indexes', needs, () => {
  test('the upload session opened beside HEAD carries a new blob and is cancelled for a present one', async (t) => {
    const reg = await startRegistry(t);
    const proxy = await startFaultProxy(t, reg.port);
    const a = brig(t, { insecure: [proxy.host] });
    const img = await importLayout(a.content, buildBusybox(join(tempDir(t), 'img')));
    const count = (m: string) => proxy.seen.filter((r) => r.method === m).length;
    // config and layer: each one HEAD, one POST, one PUT; then the manifest
    await a.registry.push(`${proxy.host}/early/app:1`, img);
    assert.deepEqual(
      ['HEAD', 'POST', 'PUT', 'DELETE'].map(count),
      [2, 2, 3, 0],
      JSON.stringify(proxy.seen.map((r) => r.method)),
    );
    // the same blobs again: both sessions cancelled, only the manifest PUT
    proxy.seen.length = 0;
    await a.registry.push(`${proxy.host}/early/app:1`, img);
    assert.deepEqual(['HEAD', 'POST', 'PUT', 'DELETE'].map(count), [2, 2, 1, 2]);
    for (const d of proxy.seen.filter((r) => r.method === 'DELETE'))
      assert.match(d.path, /^\/v2\/early\/app\/blobs\/uploads\/[^/?]+/);
    // what was pushed is whole
    execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/early/app:1`], {
      stdio: 'pipe',
    });
  });

  test('pushing one platform into an index keeps the other platforms', async (t) => {
    const reg = await startRegistry(t);
    const proxy = await startFaultProxy(t, reg.port);
    const bb = buildBusybox(join(tempDir(t), 'img'));
    // chunked: the 1 MB layer goes up in 256 KiB PATCHes
    const a = brig(t, { insecure: [proxy.host], uploadChunkSize: 256 * 1024 });
    const linuxImg = await importLayout(a.content, bb);
    const freebsdImg = await deriveImage(a.content, linuxImg, (c) => {
      c.os = 'freebsd';
    });
    const index = await storeIndex(a.content, [
      { ...linuxImg, platform: { os: 'linux', architecture: 'amd64' } },
      { ...freebsdImg, platform: { os: 'freebsd', architecture: 'amd64' } },
    ]);
    const pushed = await a.registry.push(`${proxy.host}/multi/app:1`, index);
    assert.equal(pushed.digest, index.digest);
    assert.ok(proxy.seen.filter((r) => r.method === 'PATCH').length >= 4, 'the layer went up in chunks');

    // a new linux build, pushed alone to the same tag
    const linux2 = await deriveImage(a.content, linuxImg, (c) => {
      c.created = '2025-01-01T00:00:00Z';
    });
    const res = await a.registry.push(`${proxy.host}/multi/app:1`, linux2);
    assert.deepEqual(res.keptPlatforms, [{ os: 'freebsd', architecture: 'amd64' }]);

    const raw = JSON.parse(
      execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/multi/app:1`], {
        encoding: 'utf8',
      }),
    ) as { manifests: { digest: string; platform: { os: string } }[] };
    const byOs = Object.fromEntries(raw.manifests.map((m) => [m.platform.os, m.digest]));
    assert.deepEqual(byOs, { freebsd: freebsdImg.digest, linux: linux2.digest });

    // both platforms pull; a FreeBSD host prefers freebsd, a Linux host gets linux
    const b = brig(t, { insecure: [reg.host] });
    const fb = await b.registry.pull(`${reg.host}/multi/app:1`, {
      platforms: [
        { os: 'freebsd', architecture: 'amd64' },
        { os: 'linux', architecture: 'amd64' },
      ],
    });
    assert.equal(fb.manifest.digest, freebsdImg.digest);
    assert.equal(fb.target.digest, res.digest);
    const lx = await b.registry.pull(`${reg.host}/multi/app:1`, linux);
    assert.equal(lx.manifest.digest, linux2.digest);
    assert.equal(lx.bytesFetched < 5000, true, 'the shared layer was not fetched again');
  });
});

describe('redirects', needs, () => {
  test('a blob redirected to another origin is fetched there without the registry credentials', async (t) => {
    const password = 'redirect-pw';
    const reg = await startRegistry(t, { htpasswd: { dave: password } });
    const proxy = await startFaultProxy(t, reg.port);
    const bb = buildBusybox(join(tempDir(t), 'img'));
    const a = brig(t, { insecure: [proxy.host] });
    await a.registry.login(proxy.host, { username: 'dave', password });
    const target = await importLayout(a.content, bb);
    await a.registry.push(`${proxy.host}/r/bb:1`, target);

    // "object storage": serves blobs from the layout, records what it was sent
    const seen: (string | undefined)[] = [];
    const storage = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const hex = (req.url ?? '').split('sha256:')[1] ?? '';
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(readFileSync(join(bb, 'blobs', 'sha256', hex)));
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => storage.close(() => r())));
    const addr = storage.address() as AddressInfo;
    const layer = layerOf(bb);
    proxy.faults.redirectBlob = { digest: layer, to: `http://127.0.0.1:${addr.port}` };

    const b = brig(t, { insecure: [proxy.host, `127.0.0.1:${addr.port}`] });
    writeFileSync(b.authFile, readFileSync(a.authFile));
    proxy.blobAuth.length = 0;
    const pulled = await b.registry.pull(`${proxy.host}/r/bb:1`, linux);
    assert.equal(pulled.manifest.digest, target.digest);
    assert.equal(await b.content.has(layer as `sha256:${string}`), true);
    assert.equal(seen.length, 1);
    assert.equal(seen[0], undefined, 'no Authorization header sent to another origin');
    assert.ok(
      proxy.blobAuth.some((h) => h?.startsWith('Basic ')),
      'the registry itself got the credentials',
    );
  });
});

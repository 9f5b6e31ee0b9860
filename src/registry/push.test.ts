import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { Dispatcher } from 'undici';
import { tempDir } from '../../test/support/tmp.ts';
import { LocalContentStore } from '../content/local-store.ts';
import type { Descriptor, Digest } from '../content/store.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { MEDIA_TYPES, parseIndex } from '../images/oci.ts';
import { parseReference } from '../images/reference.ts';
import { openDatabase } from '../metadata/db.ts';
import type { Endpoint } from './config.ts';
import { mergeIntoIndex, push } from './push.ts';
import type { RegistryTransport, SendRequest } from './transport.ts';

const d = (c: string) => `sha256:${c.repeat(64)}` as const;

test('mergeIntoIndex replaces the entry for the platform, keeps the others and unknown fields', () => {
  const old = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    annotations: { a: 'b' },
    manifests: [
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: d('1'),
        size: 10,
        platform: { os: 'linux', architecture: 'amd64' },
        annotations: { x: 'y' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: d('2'),
        size: 11,
        platform: { os: 'freebsd', architecture: 'amd64' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: d('3'),
        size: 12,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
    ],
  };
  const bytes = Buffer.from(JSON.stringify(old));
  /** The index `old` with a manifest of `platform` merged in. */
  const merge = (digest: Digest, size: number, platform: { os: string; architecture: string }) =>
    mergeIntoIndex(
      parseIndex(JSON.parse(bytes.toString())),
      MEDIA_TYPES.ociIndex,
      { mediaType: MEDIA_TYPES.ociManifest, digest, size, platform },
      bytes,
    );
  const { bytes: out, kept } = merge(d('4'), 13, { os: 'linux', architecture: 'amd64' });
  const idx = JSON.parse(out.toString());
  assert.deepEqual(idx.annotations, { a: 'b' });
  assert.deepEqual(
    idx.manifests.map((m: { digest: string }) => m.digest),
    [d('2'), d('3'), d('4')],
  );
  assert.deepEqual(kept, [
    { os: 'freebsd', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ]);
  // a new platform is added
  const r2 = merge(d('5'), 1, { os: 'freebsd', architecture: 'arm64' });
  assert.equal(JSON.parse(r2.bytes.toString()).manifests.length, 4);
});

// ---- push() against a scripted registry: the order of requests -----------------------------

/** An image of two layers and a config in a fresh content store. */
async function storedImage(
  t: TestContext,
): Promise<{ content: LocalContentStore; target: Descriptor; layers: Digest[]; config: Digest }> {
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(root, db);
  const put = async (b: Buffer, mediaType: string): Promise<Descriptor> => {
    const info = await content.ingest(b);
    return { mediaType, digest: info.digest, size: info.size };
  };
  const layers = [
    await put(Buffer.from('layer one'), MEDIA_TYPES.ociLayerGzip),
    await put(Buffer.from('layer two'), MEDIA_TYPES.ociLayerGzip),
  ];
  const config = await put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
    MEDIA_TYPES.ociConfig,
  );
  const target = await put(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config, layers })),
    MEDIA_TYPES.ociManifest,
  );
  return { content, target, layers: layers.map((l) => l.digest), config: config.digest };
}

/**
 * A transport that answers like a registry without the blobs (or with `present`), records each
 * request as `METHOD path` when it is sent, and reads upload bodies in full; HEAD of a blob in
 * `slowHead` answers after 30 ms. `fail`: matching requests
 * fail as the transport fails them (a BrigError).
 */
function scriptedTransport(
  o: { present?: Set<string>; fail?: (r: SendRequest) => boolean; slowHead?: Set<string> } = {},
) {
  const sent: string[] = [];
  const uploaded = new Map<string, number>();
  const ep: Endpoint = {
    registry: 'r.test',
    host: 'r.test',
    base: 'https://r.test',
    mirror: false,
    allowHttp: false,
    tls: { rejectUnauthorized: true },
  };
  let n = 0;
  const answer = (statusCode: number, headers: Record<string, string> = {}) =>
    ({ statusCode, headers, body: { dump: async () => {} } }) as unknown as Dispatcher.ResponseData;
  const transport = {
    hosts: { endpoints: () => [ep] },
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 },
    origin: () => ep.base,
    async send(_ep: Endpoint, r: SendRequest): Promise<Dispatcher.ResponseData> {
      const path = r.path.replace(ep.base, '');
      sent.push(`${r.method} ${path}`);
      if (o.fail?.(r)) throw new BrigError('ERR_REGISTRY_PROTOCOL', `${r.what}: scripted failure`);
      const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path)?.[1];
      if (r.method === 'HEAD' && blob) {
        if (o.slowHead?.has(blob)) await new Promise((res) => setTimeout(res, 30));
        return answer(o.present?.has(blob) ? 200 : 404);
      }
      if (r.method === 'GET') return answer(404);
      if (r.method === 'POST') return answer(202, { location: `/v2/app/blobs/uploads/${n++}` });
      if (r.method === 'PUT' && typeof r.body === 'function') {
        let size = 0;
        for await (const c of r.body()) size += (c as Buffer).length;
        uploaded.set(new URL(r.path).searchParams.get('digest')!, size);
        return answer(201);
      }
      return answer(r.method === 'DELETE' ? 204 : 201);
    },
  };
  return { transport: transport as unknown as RegistryTransport, sent, uploaded };
}

const dest = parseReference('r.test/app:1');

test('push: the config is asked for and uploaded only after every layer has begun to go up', async (t) => {
  const img = await storedImage(t);
  // the layers' HEAD answers late: without the wait the config's HEAD would go first
  const { transport, sent, uploaded } = scriptedTransport({ slowHead: new Set(img.layers) });
  const r = await push(transport, img.content, dest, img.target);
  assert.equal(r.digest, img.target.digest);
  const at = (prefix: string) => sent.findIndex((s) => s.startsWith(prefix));
  const configHead = at(`HEAD /v2/app/blobs/${img.config}`);
  assert.ok(configHead > 0, sent.join('\n'));
  for (const l of img.layers) {
    const put = sent.findIndex((s) => s.startsWith('PUT /v2/app/blobs/uploads/') && s.includes(l.slice(7)));
    assert.ok(put >= 0 && put < configHead, sent.join('\n'));
    assert.equal(uploaded.get(l), 9);
  }
  assert.ok(uploaded.has(img.config));
  assert.equal(sent.at(-1), 'PUT /v2/app/manifests/1');
});

test('push: layers already there let the config go at once; a failing layer fails the push', async (t) => {
  const img = await storedImage(t);
  const there = scriptedTransport({ present: new Set(img.layers) });
  await push(there.transport, img.content, dest, img.target);
  assert.deepEqual([...there.uploaded.keys()], [img.config]);
  assert.equal(there.sent.filter((s) => s.startsWith('DELETE')).length, 2, there.sent.join('\n'));

  const failing = scriptedTransport({ fail: (r) => r.method === 'HEAD' && r.path.endsWith(img.layers[0]!) });
  await assert.rejects(push(failing.transport, img.content, dest, img.target), (e: unknown) =>
    isBrigError(e, 'ERR_REGISTRY_PROTOCOL'),
  );
  // the config waited for the failed layer, then its worker stopped: nothing of it was sent
  assert.ok(!failing.sent.some((s) => s.includes(img.config)), failing.sent.join('\n'));
});

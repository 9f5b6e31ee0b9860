/**
 * Cross-repository mounts on push (docs/registries.md, "Push"), against docker-registry behind the
 * fault proxy of test/support/registry.ts (which records each request and its status):
 *   - brigd mounts from the image's other names on the same registry: after `brig image tag` to
 *     another repository, `POST /registry/push` mounts every blob (201) and uploads nothing;
 *   - a mount the registry refuses (the source lacks the blob: 202 with an upload session) falls
 *     back to uploading through that very session;
 *   - with several sources, a refused mount's session is cancelled and the next source tried.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { brig, startFaultProxy, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { layerOf, storeImage } from './pull-support.ts';

const image = (n: string) => [layerOf([{ name: 'f', data: `mount test ${n}\n`.repeat(100) }])];
const mounts = (seen: { method: string; path: string; status?: number }[]) =>
  seen
    .filter((r) => r.method === 'POST' && r.path.includes('mount='))
    .map((r) => [r.path.split('from=')[1], r.status]);

/** A fresh client pulls `ref` from `host` and gets the manifest `digest`. */
async function assertPulled(t: TestContext, host: string, ref: string, digest: string): Promise<void> {
  const b = brig(t, { insecure: [host] });
  const pulled = await b.registry.pull(ref, { platforms: [{ os: 'linux', architecture: 'amd64' }] });
  assert.equal(pulled.manifest.digest, digest);
}

describe('cross-repository mounts', requires({ commands: ['docker-registry'] }), () => {
  test('a refused mount (202) uploads through the session the registry opened', async (t) => {
    const reg = await startRegistry(t);
    const proxy = await startFaultProxy(t, reg.port);
    const a = brig(t, { insecure: [proxy.host] });
    const img = await storeImage(a.content, image('refused'));
    const progress: { status: string }[] = [];
    const pushed = await a.registry.push(`${proxy.host}/dst/app:1`, img, {
      mountFrom: ['nowhere/app'],
      onProgress: (e) => progress.push(e),
    });
    assert.equal(pushed.digest, img.digest);
    assert.ok(pushed.bytesUploaded > 0);
    assert.deepEqual(mounts(proxy.seen), [
      ['nowhere%2Fapp', 202],
      ['nowhere%2Fapp', 202],
    ]);
    // no other session was opened: the two PUTs went to the sessions the mount requests opened
    assert.equal(proxy.seen.filter((r) => r.method === 'POST').length, 2);
    assert.equal(
      proxy.seen.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/')).length,
      2,
    );
    assert.equal(
      progress.some((e) => e.status === 'mounted'),
      false,
    );
    await assertPulled(t, reg.host, `${reg.host}/dst/app:1`, img.digest);
  });

  test('a refused mount is cancelled and the next source tried', async (t) => {
    const reg = await startRegistry(t);
    const proxy = await startFaultProxy(t, reg.port);
    const a = brig(t, { insecure: [proxy.host] });
    const img = await storeImage(a.content, image('next'));
    await a.registry.push(`${proxy.host}/team/a:1`, img);
    proxy.seen.length = 0;
    const pushed = await a.registry.push(`${proxy.host}/dst/app:1`, img, {
      mountFrom: ['nowhere/app', 'team/a', 'never/tried'],
    });
    assert.equal(pushed.bytesUploaded, 0);
    // per blob: nowhere refuses (202), team/a mounts (201); the third source is never asked
    assert.deepEqual(
      mounts(proxy.seen).sort(),
      [
        ['nowhere%2Fapp', 202],
        ['nowhere%2Fapp', 202],
        ['team%2Fa', 201],
        ['team%2Fa', 201],
      ].sort(),
    );
    // the two sessions the refusals opened were cancelled, and no blob went up
    assert.equal(proxy.seen.filter((r) => r.method === 'DELETE').length, 2);
    assert.equal(
      proxy.seen.filter((r) => r.method === 'PUT' && r.path.includes('/blobs/uploads/')).length,
      0,
    );
    await assertPulled(t, reg.host, `${reg.host}/dst/app:1`, img.digest);
  });

  test(
    'brigd mounts blobs from the image’s other name on the same registry',
    requires({ root: true, linux: true }),
    async (t) => {
      const reg = await startRegistry(t);
      const proxy = await startFaultProxy(t, reg.port);
      const src = brig(t, { insecure: [reg.host] });
      const img = await storeImage(src.content, image('route'));
      await src.registry.push(`${reg.host}/team/a:1`, img);
      const d = await startDaemon(t, { config: { registries: { insecure: [proxy.host] } } });
      const ok = async (args: string[]) => {
        const r = await d.brig(args);
        assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
      };
      await ok(['pull', '-q', `${proxy.host}/team/a:1`]);
      await ok(['image', 'tag', `${proxy.host}/team/a:1`, `${proxy.host}/team/b:1`]);
      proxy.seen.length = 0;
      let result: { bytesUploaded?: number; digest?: string } | undefined;
      const statuses: string[] = [];
      for await (const l of d.client.lines<{ progress?: { status: string }; result?: typeof result }>(
        'POST',
        '/registry/push',
        { body: { image: `${proxy.host}/team/b:1` } },
      )) {
        if (l.progress) statuses.push(l.progress.status);
        if (l.result) result = l.result;
      }
      assert.equal(result?.digest, img.digest);
      assert.equal(result?.bytesUploaded, 0);
      assert.deepEqual(mounts(proxy.seen), [
        ['team%2Fa', 201],
        ['team%2Fa', 201],
      ]);
      assert.equal(statuses.filter((s) => s === 'mounted').length, 2);
    },
  );
});

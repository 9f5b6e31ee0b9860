/**
 * Pull by digest through the built CLI and daemon (dist/; `npm test` builds first), against
 * docker-registry on 127.0.0.1 (docs/registries.md, "Pull by digest"):
 *   - `brig pull REPO@DIGEST` records REPO@DIGEST: run, image inspect, tag, push and rm take that
 *     name; `brig images` lists it with tag <none> (and the digest with --digests);
 *   - `NAME:TAG@DIGEST` pulls the digest and records REPO@DIGEST; pulling again, or by tag, makes
 *     no second image; rm of the last tag takes the digest name with it; the layer GC keeps the
 *     layers of an image known only by its digest name;
 *   - a digest of an index records REPO@INDEX-DIGEST on the platform's manifest;
 *   - a pull whose record fails (an invalid brig section) leaves no snapshot and no image.
 * The snapshots table is read from brig.db (read-only) while brigd runs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Descriptor } from '../../src/content/store.ts';
import { chainIds } from '../../src/snapshots/unpack.ts';
import { deriveImage, storeIndex } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import {
  apiPull,
  assertCommittedChain,
  busyboxLayer,
  layerOf,
  registryDaemon,
  sha,
  snapshotRows,
  storeImage,
} from './pull-support.ts';

const needs = requires({ root: true, linux: true, commands: ['docker-registry', 'umoci', 'conmon'] });

describe('pull by digest', needs, () => {
  test('REPO@DIGEST is recorded; run, inspect, tag, push and rm take it; NAME:TAG@DIGEST and a pull by tag make no second image', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const layers = [busyboxLayer(), layerOf([{ name: 'hello', data: 'pulled by digest\n' }])];
    const manifest = await storeImage(src.content, layers);
    await src.registry.push(`${reg.host}/dg/bb:1`, manifest);
    const D = manifest.digest;
    const byDigest = `${reg.host}/dg/bb@${D}`;

    let r = await d.brig(['pull', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Pulled ${byDigest.replace(/[.]/g, '\\.')}\\n`));
    const [image] = await images();
    assert.deepEqual(image!.names, [byDigest]);
    const chain = chainIds(layers.map((l) => l.diffId));
    assertCommittedChain(snapshotRows(d), chain);

    r = await d.brig(['images', '--digests']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${reg.host.replace(/[.]/g, '\\.')}/dg/bb\\s+<none>\\s+${D}\\s`));

    r = await d.brig(['run', '--rm', byDigest, '/bin/cat', '/hello']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pulled by digest\n');
    r = await d.brig(['image', 'inspect', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout)[0].manifestDigest, D);

    // the name pushes (by digest), and a tag of it pushes to another repository: same digest
    r = await d.brig(['push', '-q', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${D}\n`);
    r = await d.brig(['image', 'tag', byDigest, `${reg.host}/dg/copy:1`]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['push', '-q', `${reg.host}/dg/copy:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${D}\n`);
    const res = await fetch(`${reg.url}/v2/dg/copy/manifests/1`, {
      headers: { accept: manifest.mediaType },
    });
    assert.equal(sha(Buffer.from(await res.arrayBuffer())), D);
    // a digest name is never a tag target
    r = await d.brig(['image', 'tag', byDigest, `${reg.host}/dg/copy@${D}`]);
    assert.equal(r.code, 125);

    // the image keeps its layers while only its digest name is left
    r = await d.brig(['image', 'rm', `${reg.host}/dg/copy:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await images(), [{ id: image!.id, names: [byDigest] }]);
    assertCommittedChain(snapshotRows(d), chain);

    // NAME:TAG@DIGEST: the digest decides, recorded as REPO@DIGEST; again, and by tag: one image
    r = await d.brig(['pull', '-q', `${reg.host}/dg/bb:nosuchtag@${D}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${byDigest}\n`);
    r = await d.brig(['pull', '-q', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['pull', '-q', `${reg.host}/dg/bb:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await images(), [{ id: image!.id, names: [byDigest, `${reg.host}/dg/bb:1`].sort() }]);
    r = await d.brig(['images']);
    assert.equal(r.stdout.trim().split('\n').length, 2, r.stdout); // the header and one row
    r = await d.brig(['run', '--rm', `${reg.host}/dg/bb:1@${D}`, '/bin/cat', '/hello']);
    assert.equal(r.code, 0, r.stderr);

    // rm of the last tag takes the digest name with it; the layers go
    r = await d.brig(['image', 'rm', `${reg.host}/dg/bb:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Untagged: ${byDigest.replace(/[.]/g, '\\.')}`));
    assert.deepEqual(await images(), []);
    assert.deepEqual(snapshotRows(d), []);

    // pulled again by digest: rm of the digest name removes the image
    r = await d.brig(['pull', '-q', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['image', 'rm', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await images(), []);
    assert.deepEqual(snapshotRows(d), []);
  });

  test('the digest of an index records REPO@INDEX-DIGEST on the platform manifest', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const manifest = await storeImage(src.content, [busyboxLayer()]);
    const index = await storeIndex(src.content, [
      { ...manifest, platform: { os: 'linux', architecture: 'amd64' } } as Descriptor,
    ]);
    await src.registry.push(`${reg.host}/dg/multi:1`, index);
    const name = `${reg.host}/dg/multi@${index.digest}`;
    const pulled = await apiPull(d, { reference: name });
    assert.equal(pulled.result.name, name);
    assert.equal(pulled.result.manifestDigest, manifest.digest);
    assert.equal(pulled.result.targetDigest, index.digest);
    assert.deepEqual(
      (await images()).map((i) => i.names),
      [[name]],
    );
    let r = await d.brig(['run', '--rm', name, '/bin/echo', 'from the index']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from the index\n');
    // the index is not kept: pushing by its digest is refused; a tag of the name pushes the manifest
    await assert.rejects(
      (async () => {
        for await (const _ of d.client.lines('POST', '/registry/push', { body: { image: name } })) {
        }
      })(),
      (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARGUMENT',
    );
    r = await d.brig(['image', 'tag', name, `${reg.host}/dg/one:1`]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['push', '-q', `${reg.host}/dg/one:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${manifest.digest}\n`);
  });

  test('a pull whose image cannot be recorded leaves no snapshot and no image', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const base = await storeImage(src.content, [busyboxLayer()]);
    const bad = await deriveImage(src.content, base, (c) => {
      c.brig = { version: 99 };
    });
    await src.registry.push(`${reg.host}/dg/bad:1`, bad);
    for (const reference of [`${reg.host}/dg/bad:1`, `${reg.host}/dg/bad@${bad.digest}`]) {
      await assert.rejects(apiPull(d, { reference }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_BRIG_SECTION_INVALID');
        return true;
      });
      assert.deepEqual(snapshotRows(d), []);
      assert.deepEqual(await images(), []);
    }
  });
});

/**
 * Digest names beside tags (docker's RepoDigests) through the built CLI and daemon (dist/; `npm
 * test` builds first), against docker-registry on 127.0.0.1 (docs/registries.md, "Digest names"):
 *   - a pull by tag records REPO@DIGEST too (the manifest's, or the index's the platform was
 *     picked from): run and image inspect take it with the registry gone; `brig images` shows one
 *     row, `--digests` the digest; image inspect has repoDigests; pull prints that digest;
 *   - rm of a digest name removes that name only; rm of the last tag takes the digest names;
 *   - a tag a later pull moves leaves the old image with its digest name (REPO <none> DIGEST),
 *     which run takes and prune removes;
 *   - a push records REPO@DIGEST: the pushed manifest's, or the index it was merged into;
 *   - a tag and a digest name of one repository are one mount source for a push.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Descriptor } from '../../src/content/store.ts';
import type { TestDaemon } from '../support/daemon.ts';
import { deriveImage, storeIndex } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { busyboxLayer, layerOf, registryDaemon, sha, storeImage } from './pull-support.ts';

const needs = requires({ root: true, linux: true, commands: ['docker-registry', 'umoci', 'conmon'] });

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function ok(d: TestDaemon, args: string[]) {
  const r = await d.brig(args);
  assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The table rows of `brig images [args]`, each split on runs of spaces (header dropped). */
async function tableRows(d: TestDaemon, args: string[] = []): Promise<string[][]> {
  const out = await ok(d, ['images', ...args]);
  return out
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((l) => l.split(/\s{2,}/));
}

const image = (text: string) => [busyboxLayer(), layerOf([{ name: 'hello', data: `${text}\n` }])];

describe('digest names beside tags', needs, () => {
  test('a pull by tag records REPO@DIGEST: run and inspect take it with the registry gone; one row, --digests shows it', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const manifest = await storeImage(src.content, image('by tag'));
    await src.registry.push(`${reg.host}/rd/bb:1`, manifest);
    const D = manifest.digest;
    const tag = `${reg.host}/rd/bb:1`;
    const byDigest = `${reg.host}/rd/bb@${D}`;

    const out = await ok(d, ['pull', tag]);
    assert.match(out, new RegExp(`Digest: ${D}\\n`));
    const [img] = await images();
    assert.deepEqual(img!.names, [tag, byDigest]);
    const info = JSON.parse(await ok(d, ['image', 'inspect', tag]))[0];
    assert.deepEqual(info.repoTags, [tag]);
    assert.deepEqual(info.repoDigests, [byDigest]);

    // no extra row for the digest name; --digests shows it on the tag's row
    assert.deepEqual(
      (await tableRows(d)).map((r) => r.slice(0, 2)),
      [[`${reg.host}/rd/bb`, '1']],
    );
    assert.deepEqual(
      (await tableRows(d, ['--digests'])).map((r) => r.slice(0, 3)),
      [[`${reg.host}/rd/bb`, '1', D]],
    );
    assert.equal((await tableRows(d, [byDigest])).length, 1);

    // no second pull: the registry is gone
    reg.proc.kill('SIGTERM');
    await new Promise((r) => reg.proc.once('exit', r));
    assert.equal(JSON.parse(await ok(d, ['image', 'inspect', byDigest]))[0].id, img!.id);
    assert.equal(await ok(d, ['run', '--rm', byDigest, '/bin/cat', '/hello']), 'by tag\n');
    assert.equal(
      await ok(d, ['run', '--rm', `${reg.host}/rd/bb:other@${D}`, '/bin/cat', '/hello']),
      'by tag\n',
    );
  });

  test('a pull by tag of an index records REPO@INDEX-DIGEST on the platform manifest', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const manifest = await storeImage(src.content, image('from an index'));
    const freebsd = await deriveImage(src.content, manifest, (c) => {
      c.os = 'freebsd';
    });
    const index = await storeIndex(src.content, [
      { ...freebsd, platform: { os: 'freebsd', architecture: 'amd64' } } as Descriptor,
      { ...manifest, platform: { os: 'linux', architecture: 'amd64' } } as Descriptor,
    ]);
    await src.registry.push(`${reg.host}/rd/multi:1`, index);
    const out = await ok(d, ['pull', `${reg.host}/rd/multi:1`]);
    assert.match(out, new RegExp(`Digest: ${index.digest}\\n`));
    const byIndex = `${reg.host}/rd/multi@${index.digest}`;
    assert.deepEqual(
      (await images()).map((i) => i.names),
      [[`${reg.host}/rd/multi:1`, byIndex]],
    );
    const info = JSON.parse(await ok(d, ['image', 'inspect', byIndex]))[0];
    assert.equal(info.manifestDigest, manifest.digest);
    assert.equal(await ok(d, ['run', '--rm', byIndex, '/bin/cat', '/hello']), 'from an index\n');
  });

  test('rm of a digest name removes that name; rm of the last tag takes the digest names; rm by id needs no -f', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const manifest = await storeImage(src.content, image('rm'));
    await src.registry.push(`${reg.host}/rd/rm:1`, manifest);
    const tag = `${reg.host}/rd/rm:1`;
    const byDigest = `${reg.host}/rd/rm@${manifest.digest}`;
    await ok(d, ['pull', '-q', tag]);
    const [img] = await images();

    assert.equal(await ok(d, ['image', 'rm', byDigest]), `Untagged: ${byDigest}\n`);
    assert.deepEqual(await images(), [{ id: img!.id, names: [tag] }]);

    await ok(d, ['pull', '-q', tag]);
    const last = await ok(d, ['image', 'rm', tag]);
    assert.match(
      last,
      new RegExp(`Untagged: ${re(tag)}\\nUntagged: ${re(byDigest)}\\nDeleted: ${img!.id}\\n`),
    );
    assert.deepEqual(await images(), []);

    await ok(d, ['pull', '-q', tag]);
    const byId = await ok(d, ['image', 'rm', img!.id]);
    assert.match(byId, new RegExp(`Deleted: ${img!.id}`));
    assert.deepEqual(await images(), []);
  });

  test('a re-pull that moves the tag leaves the old image with its digest name: REPO <none> DIGEST; prune removes it', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const tag = `${reg.host}/rd/moved:1`;
    const a = await storeImage(src.content, image('first'));
    await src.registry.push(tag, a);
    await ok(d, ['pull', '-q', tag]);
    const [old] = await images();
    const b = await storeImage(src.content, image('second'));
    await src.registry.push(tag, b);
    await ok(d, ['pull', '-q', tag]);

    const now = await images();
    assert.equal(now.length, 2);
    const oldNow = now.find((i) => i.id === old!.id);
    const fresh = now.find((i) => i.id !== old!.id);
    assert.deepEqual(oldNow!.names, [`${reg.host}/rd/moved@${a.digest}`]);
    assert.deepEqual(fresh!.names, [tag, `${reg.host}/rd/moved@${b.digest}`]);
    const repo = `${reg.host}/rd/moved`;
    assert.deepEqual((await tableRows(d, ['--digests'])).map((r) => r.slice(0, 3)).sort(), [
      [repo, '1', b.digest],
      [repo, '<none>', a.digest],
    ]);
    assert.deepEqual((await tableRows(d)).map((r) => r.slice(0, 2)).sort(), [
      [repo, '1'],
      [repo, '<none>'],
    ]);
    assert.equal(await ok(d, ['run', '--rm', `${repo}@${a.digest}`, '/bin/cat', '/hello']), 'first\n');
    assert.equal(await ok(d, ['run', '--rm', tag, '/bin/cat', '/hello']), 'second\n');

    // prune takes the image without a tag (docker counts it dangling), keeps the tagged one
    const pruned = await ok(d, ['image', 'prune']);
    assert.match(pruned, new RegExp(old!.id.slice(7, 19)));
    assert.deepEqual(
      (await images()).map((i) => i.id),
      [fresh!.id],
    );
  });

  test('a push records REPO@DIGEST: the pushed manifest, or the index it was merged into', async (t) => {
    const { reg, src, d, images } = await registryDaemon(t);
    const manifest = await storeImage(src.content, image('pushed'));
    await src.registry.push(`${reg.host}/rd/src:1`, manifest);
    await ok(d, ['pull', '-q', `${reg.host}/rd/src:1`]);
    const [img] = await images();

    // a manifest pushed to a new repository
    await ok(d, ['image', 'tag', `${reg.host}/rd/src:1`, `${reg.host}/rd/pushed:1`]);
    assert.equal(await ok(d, ['push', '-q', `${reg.host}/rd/pushed:1`]), `${manifest.digest}\n`);
    const afterPush = (await images()).find((i) => i.id === img!.id)!;
    assert.ok(
      afterPush.names.includes(`${reg.host}/rd/pushed@${manifest.digest}`),
      afterPush.names.join(' '),
    );
    assert.equal(
      await ok(d, ['run', '--rm', `${reg.host}/rd/pushed@${manifest.digest}`, '/bin/cat', '/hello']),
      'pushed\n',
    );

    // a tag holding an index: the manifest is merged in; the name records the new index's digest
    const freebsd = await deriveImage(src.content, manifest, (c) => {
      c.os = 'freebsd';
    });
    const index = await storeIndex(src.content, [
      { ...freebsd, platform: { os: 'freebsd', architecture: 'amd64' } } as Descriptor,
    ]);
    await src.registry.push(`${reg.host}/rd/merged:1`, index);
    await ok(d, ['image', 'tag', `${reg.host}/rd/src:1`, `${reg.host}/rd/merged:1`]);
    const merged = (await ok(d, ['push', '-q', `${reg.host}/rd/merged:1`])).trim();
    assert.notEqual(merged, index.digest);
    assert.notEqual(merged, manifest.digest);
    const res = await fetch(`${reg.url}/v2/rd/merged/manifests/1`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    assert.equal(sha(Buffer.from(await res.arrayBuffer())), merged);
    const names = (await images()).find((i) => i.id === img!.id)!.names;
    assert.ok(names.includes(`${reg.host}/rd/merged@${merged}`), names.join(' '));
    assert.ok(!names.includes(`${reg.host}/rd/merged@${manifest.digest}`), names.join(' '));
    assert.equal(
      JSON.parse(await ok(d, ['image', 'inspect', `${reg.host}/rd/merged@${merged}`]))[0].manifestDigest,
      manifest.digest,
    );
  });

  test('a push asks a repository for a mount once, though the image has a tag and a digest name there', async (t) => {
    const { reg, src, d, proxy } = await registryDaemon(t, { proxy: true });
    const manifest = await storeImage(src.content, image('mount once'));
    await src.registry.push(`${reg.host}/rd/a:1`, manifest);
    await ok(d, ['pull', '-q', `${proxy!.host}/rd/a:1`]); // names rd/a:1 and rd/a@DIGEST
    // rd/a no longer holds the blobs: a mount from it is refused (202, an upload session)
    const doc = JSON.parse((await src.content.readBytes(manifest.digest)).toString());
    const blobs: string[] = [doc.config.digest, ...doc.layers.map((l: { digest: string }) => l.digest)];
    for (const b of blobs) {
      const res = await fetch(`${reg.url}/v2/rd/a/blobs/${b}`, { method: 'DELETE' });
      assert.equal(res.status, 202);
    }
    await ok(d, ['image', 'tag', `${proxy!.host}/rd/a:1`, `${proxy!.host}/rd/b:1`]);
    proxy!.seen.length = 0;
    await ok(d, ['push', '-q', `${proxy!.host}/rd/b:1`]);
    const mounts = proxy!.seen.filter((r) => r.method === 'POST' && r.path.includes('mount='));
    assert.equal(mounts.length, blobs.length, JSON.stringify(mounts));
    assert.ok(mounts.every((m) => m.path.includes('from=rd%2Fa') && m.status === 202));
  });
});

// policy.images is matched against the reference that was run (src/privileges/image-ref.ts):
// another tag of the same image changes nothing, and a run by id gets no per-image grant.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { imageServiceFor, motdTree } from '../../test/support/image-service.ts';
import { imageSource } from '../containers/adapters.ts';
import { matchingImages, parsePolicy } from '../policy/index.ts';
import { namesRef, runReference } from './image-ref.ts';

async function setup(t: TestContext, defaultRegistry?: string) {
  const { images } = imageServiceFor(t, {
    platform: { os: 'freebsd', architecture: 'x86_64' },
    ...(defaultRegistry ? { names: { defaultRegistry } } : {}),
  });
  return { images, d: motdTree(t, 'x') };
}

const policy = parsePolicy({ images: [{ match: 'docker.io/library/priv:*', vnet: true }] });

test('policy.images matches the name that was run, not the first of the image names', async (t) => {
  const { images, d } = await setup(t);
  const img = await images.import(d, { name: 'priv:1' });
  await images.tag('priv:1', 'aaa/first:1');
  await images.tag('priv:1', 'other/thing:2');
  const src = imageSource(images);
  // a tag sorting first does not take the grant away from priv:1
  const run = await src.resolve('priv:1');
  assert.equal(run.name, 'docker.io/library/priv:1');
  assert.deepEqual(matchingImages(policy, run.name), [0]);
  // and another name of the same content does not get it
  for (const other of ['other/thing:2', 'aaa/first:1', 'docker.io/aaa/first:1']) {
    const r = await src.resolve(other);
    assert.notEqual(r.name, 'docker.io/library/priv:1');
    assert.deepEqual(matchingImages(policy, r.name), [], other);
  }
  // by id or id prefix: no name, no per-image grant
  for (const byId of [img.id, img.id.slice(7, 19)]) {
    const r = await src.resolve(byId);
    assert.equal(r.name, img.id);
    assert.equal(
      await runReference(images, byId, { id: img.id, names: (await images.inspect(byId)).names }),
      undefined,
    );
  }
});

test('a short name is the configured default registry', async (t) => {
  const { images, d } = await setup(t, 'reg.example:5000');
  await images.import(d, { name: 'app:1' });
  await images.tag('app:1', 'a/a:1');
  assert.equal((await imageSource(images).resolve('app:1')).name, 'reg.example:5000/app:1');
});

test('namesRef: docker short forms', () => {
  assert.ok(namesRef('priv:1', 'docker.io/library/priv:1'));
  assert.ok(namesRef('priv', 'docker.io/library/priv:latest'));
  assert.ok(!namesRef('priv:1', 'docker.io/aaa/first:1'));
  assert.ok(!namesRef('quay.io/priv', 'docker.io/library/priv:latest'));
  assert.ok(!namesRef('priv:2', 'docker.io/library/priv:1'));
});

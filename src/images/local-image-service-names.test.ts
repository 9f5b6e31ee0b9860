// The image service with a configured name resolver (registries.defaultRegistry): every image
// argument a user writes resolves as pull does; names written inside an import source keep
// docker's rules; with the default configuration names are what docker's rules give.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { imageServiceFor, motdTree } from '../../test/support/image-service.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { registriesDefaults } from '../registry/config.ts';
import type { NameOptions } from '../registry/names.ts';
import { IMAGE_NAME_ANNOTATION } from './local-image-service.ts';

function setup(t: TestContext, names?: NameOptions) {
  const { images } = imageServiceFor(t, { platform: { os: 'freebsd', architecture: 'x86_64' }, names });
  return { images, tree: (text: string) => motdTree(t, text) };
}

const notFound = (e: unknown) => isBrigError(e, 'ERR_IMAGE_NOT_FOUND');

test('a short name means the configured default registry in import, lookups, tag, record, rm and export', async (t) => {
  const s = setup(t, { defaultRegistry: 'reg.example:5000' });
  const a = await s.images.import(s.tree('a'), { name: 'app:1' });
  assert.deepEqual(a.names, ['reg.example:5000/app:1']);
  for (const arg of ['app:1', 'reg.example:5000/app:1']) assert.equal((await s.images.inspect(arg)).id, a.id);
  await assert.rejects(s.images.inspect('docker.io/library/app:1'), notFound);

  assert.deepEqual(await s.images.tag('app:1', 'team/app'), {
    id: a.id,
    name: 'reg.example:5000/team/app:latest',
  });
  await s.images.tag('app:1', 'docker.io/app:1');
  const target = (await s.images.lookup('team/app')).target;
  assert.deepEqual((await s.images.record('app:2', target)).names.sort(), [
    'docker.io/library/app:1',
    'reg.example:5000/app:1',
    'reg.example:5000/app:2',
    'reg.example:5000/team/app:latest',
  ]);

  await s.images.rm('team/app');
  await s.images.rm('app:2');
  await assert.rejects(s.images.lookup('team/app'), notFound);
  assert.deepEqual((await s.images.lookup('app:1')).names.sort(), [
    'docker.io/library/app:1',
    'reg.example:5000/app:1',
  ]);

  // export by short name: the layout carries the full name; --ref picks it by its short name
  const layout = join(tempDir(t), 'layout');
  await s.images.export('app:1', layout);
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  assert.equal(index.manifests[0].annotations[IMAGE_NAME_ANNOTATION], 'reg.example:5000/app:1');
  const other = setup(t, { defaultRegistry: 'reg.example:5000' });
  assert.deepEqual((await other.images.import(layout, { ref: 'app:1' })).names, ['reg.example:5000/app:1']);
});

test('names written inside an import source keep docker rules under a configured default registry', async (t) => {
  const s = setup(t);
  const layout = join(tempDir(t), 'layout');
  await s.images.import(s.tree('b'), { name: 'bb:1' });
  await s.images.export('bb:1', layout);
  const indexFile = join(layout, 'index.json');
  const index = JSON.parse(readFileSync(indexFile, 'utf8'));
  index.manifests[0].annotations[IMAGE_NAME_ANNOTATION] = 'bb:1';
  writeFileSync(indexFile, JSON.stringify(index));
  const c = setup(t, { defaultRegistry: 'reg.example:5000' });
  // `bb:1` in the source is docker's docker.io/library/bb:1; a --ref matches it by either rule
  assert.deepEqual((await c.images.import(layout)).names, ['docker.io/library/bb:1']);
  assert.deepEqual((await c.images.import(layout, { ref: 'bb:1', name: 'bb:2' })).names.sort(), [
    'docker.io/library/bb:1',
    'reg.example:5000/bb:2',
  ]);
  await assert.rejects(c.images.import(layout, { ref: 'bb:9' }), notFound);
});

test('with the default configuration the resolver gives the names docker rules give', async (t) => {
  const plain = setup(t);
  const configured = setup(t, registriesDefaults);
  const names = ['app', 'app:1', 'team/app:2', 'example.org/app', 'localhost:5000/a/b:3', 'docker.io/app:4'];
  const got: string[][] = [];
  for (const s of [plain, configured]) {
    const r = await s.images.import(s.tree('same'), { name: names[0]! });
    for (const n of names.slice(1)) await s.images.tag(names[0]!, n);
    for (const n of names) assert.equal((await s.images.inspect(n)).id, r.id, n);
    got.push((await s.images.lookup(r.id)).names.sort());
  }
  assert.deepEqual(got[1], got[0]);
  assert.deepEqual(got[0], [
    'docker.io/library/app:1',
    'docker.io/library/app:4',
    'docker.io/library/app:latest',
    'docker.io/team/app:2',
    'example.org/app:latest',
    'localhost:5000/a/b:3',
  ]);
});

test('officialNamespace applies to one-component docker.io names, written with the host or not', async (t) => {
  const s = setup(t, { officialNamespace: '' });
  const r = await s.images.import(s.tree('n'), { name: 'app' });
  assert.deepEqual(r.names, ['docker.io/app:latest']);
  await s.images.tag('docker.io/app', 'docker.io/app:2');
  assert.deepEqual((await s.images.lookup('app:2')).names.sort(), [
    'docker.io/app:2',
    'docker.io/app:latest',
  ]);
  await assert.rejects(s.images.lookup('library/app'), notFound);
});

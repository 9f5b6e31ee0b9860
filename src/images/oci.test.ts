import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrigError, isBrigError } from '../errors/errors.ts';
import {
  checkConfigMatchesManifest,
  layerCompression,
  MEDIA_TYPES,
  parseConfig,
  parseIndex,
  parseJson,
  parseManifest,
} from './oci.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const desc = (mediaType: string, digest = D1, size = 10) => ({ mediaType, digest, size });

const manifest = () => ({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: desc(MEDIA_TYPES.ociConfig, D1, 100),
  layers: [desc(MEDIA_TYPES.ociLayerGzip, D2, 5000)],
  annotations: { a: 'b' },
});
const config = () => ({
  architecture: 'amd64',
  os: 'linux',
  created: '2023-11-14T22:13:20Z',
  config: {
    Env: ['PATH=/bin'],
    Cmd: ['/bin/sh'],
    ExposedPorts: { '80/tcp': {} },
    Labels: { x: 'y' },
    Entrypoint: null,
  },
  rootfs: { type: 'layers', diff_ids: [D1] },
  history: [{ created_by: 'x', empty_layer: false }],
  brig: { version: 1 },
});

function fails(fn: () => unknown, code: 'ERR_IMAGE_INVALID' | 'ERR_IMAGE_MEDIA_TYPE', field: string): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof BrigError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.details?.field, field, e.message);
    return true;
  });
}

// biome-ignore lint/suspicious/noExplicitAny: tests mutate arbitrary JSON documents
function mutate<T>(base: () => T, f: (x: any) => void): T {
  const x = base();
  f(x);
  return x;
}

test('valid OCI and Docker documents parse into typed values', () => {
  const m = parseManifest(manifest());
  assert.equal(m.layers[0]!.digest, D2);
  assert.equal(m.annotations?.a, 'b');
  const dm = parseManifest({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.dockerManifest,
    config: desc(MEDIA_TYPES.dockerConfig),
    layers: [desc(MEDIA_TYPES.dockerLayerGzip)],
  });
  assert.equal(dm.mediaType, MEDIA_TYPES.dockerManifest);
  const idx = parseIndex({
    schemaVersion: 2,
    manifests: [
      { ...desc(MEDIA_TYPES.ociManifest), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  });
  assert.equal(idx.mediaType, MEDIA_TYPES.ociIndex);
  assert.equal(idx.manifests[0]!.platform?.variant, 'v8');
  const list = parseIndex({ schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifestList, manifests: [] });
  assert.equal(list.mediaType, MEDIA_TYPES.dockerManifestList);
  const c = parseConfig(config());
  assert.deepEqual(c.config?.Cmd, ['/bin/sh']);
  assert.equal(c.config?.Entrypoint, undefined);
  assert.deepEqual(c.brig, { version: 1 });
});

test('manifest errors name the field', () => {
  fails(() => parseManifest(null), 'ERR_IMAGE_INVALID', '.');
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.schemaVersion = 1))),
    'ERR_IMAGE_INVALID',
    'schemaVersion',
  );
  fails(() => parseManifest(mutate(manifest, (m) => delete m.config)), 'ERR_IMAGE_INVALID', 'config');
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.config.digest = 'sha256:xyz'))),
    'ERR_IMAGE_INVALID',
    'config.digest',
  );
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.layers[0].size = -1))),
    'ERR_IMAGE_INVALID',
    'layers[0].size',
  );
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.layers[0].size = 2 ** 60))),
    'ERR_IMAGE_INVALID',
    'layers[0].size',
  );
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.layers[0].size = '10'))),
    'ERR_IMAGE_INVALID',
    'layers[0].size',
  );
  fails(() => parseManifest(mutate(manifest, (m) => (m.layers = {}))), 'ERR_IMAGE_INVALID', 'layers');
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.annotations = { a: 1 }))),
    'ERR_IMAGE_INVALID',
    'annotations.a',
  );
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.layers[0].platform = { os: 'linux' }))),
    'ERR_IMAGE_INVALID',
    'layers[0].platform.architecture',
  );
  fails(() => parseManifest(mutate(manifest, (m) => (m.manifests = []))), 'ERR_IMAGE_INVALID', '.');
});

test('media type errors', () => {
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.layers[0].mediaType = 'application/x-foo'))),
    'ERR_IMAGE_MEDIA_TYPE',
    'layers[0].mediaType',
  );
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.config.mediaType = MEDIA_TYPES.ociLayer))),
    'ERR_IMAGE_MEDIA_TYPE',
    'config.mediaType',
  );
  fails(
    () => parseManifest(mutate(manifest, (m) => (m.mediaType = MEDIA_TYPES.ociIndex))),
    'ERR_IMAGE_MEDIA_TYPE',
    'mediaType',
  );
  fails(
    () => parseManifest(manifest(), { mediaType: MEDIA_TYPES.dockerManifest }),
    'ERR_IMAGE_MEDIA_TYPE',
    'mediaType',
  );
  fails(
    () => parseIndex({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, manifests: [] }),
    'ERR_IMAGE_MEDIA_TYPE',
    'mediaType',
  );
  // a manifest without its own mediaType takes the descriptor's
  const noMt = mutate(manifest, (m) => delete m.mediaType);
  assert.equal(
    parseManifest(noMt, { mediaType: MEDIA_TYPES.ociManifest }).mediaType,
    MEDIA_TYPES.ociManifest,
  );
});

test('index errors name the field', () => {
  fails(() => parseIndex({ schemaVersion: 2 }), 'ERR_IMAGE_INVALID', 'manifests');
  fails(
    () => parseIndex({ schemaVersion: 2, manifests: [{ mediaType: '', digest: D1, size: 1 }] }),
    'ERR_IMAGE_INVALID',
    'manifests[0].mediaType',
  );
  fails(() => parseIndex({ schemaVersion: 2, manifests: [], layers: [] }), 'ERR_IMAGE_INVALID', '.');
});

test('config errors name the field', () => {
  fails(() => parseConfig(mutate(config, (c) => delete c.os)), 'ERR_IMAGE_INVALID', 'os');
  fails(() => parseConfig(mutate(config, (c) => (c.architecture = 7))), 'ERR_IMAGE_INVALID', 'architecture');
  fails(
    () => parseConfig(mutate(config, (c) => (c.rootfs.type = 'tar'))),
    'ERR_IMAGE_INVALID',
    'rootfs.type',
  );
  fails(
    () => parseConfig(mutate(config, (c) => (c.rootfs.diff_ids = ['x']))),
    'ERR_IMAGE_INVALID',
    'rootfs.diff_ids[0]',
  );
  fails(() => parseConfig(mutate(config, (c) => (c.created = 'yesterday'))), 'ERR_IMAGE_INVALID', 'created');
  fails(
    () => parseConfig(mutate(config, (c) => (c.config.Env = ['NOEQUALS']))),
    'ERR_IMAGE_INVALID',
    'config.Env[0]',
  );
  fails(() => parseConfig(mutate(config, (c) => (c.config.Cmd = 'sh'))), 'ERR_IMAGE_INVALID', 'config.Cmd');
  fails(
    () => parseConfig(mutate(config, (c) => (c.config.ExposedPorts = { http: {} }))),
    'ERR_IMAGE_INVALID',
    'config.ExposedPorts.http',
  );
  fails(
    () => parseConfig(mutate(config, (c) => (c.config.Labels = { 'a.b': 3 }))),
    'ERR_IMAGE_INVALID',
    'config.Labels["a.b"]',
  );
  fails(
    () => parseConfig(mutate(config, (c) => (c.history = [{ empty_layer: 'yes' }]))),
    'ERR_IMAGE_INVALID',
    'history[0].empty_layer',
  );
});

test('config and manifest must agree on the number of layers', () => {
  const c = parseConfig(config());
  checkConfigMatchesManifest(c, parseManifest(manifest()));
  assert.throws(
    () => checkConfigMatchesManifest(c, parseManifest(mutate(manifest, (m) => m.layers.push(m.layers[0])))),
    (e) => isBrigError(e, 'ERR_IMAGE_INVALID'),
  );
});

test('parseJson refuses non-JSON with ERR_IMAGE_INVALID', () => {
  assert.throws(
    () => parseJson(Buffer.from('{"a":'), 'manifest x'),
    (e) => isBrigError(e, 'ERR_IMAGE_INVALID'),
  );
});

test('layer media types map to compressions', () => {
  assert.equal(layerCompression(MEDIA_TYPES.ociLayer), 'none');
  assert.equal(layerCompression(MEDIA_TYPES.ociLayerGzip), 'gzip');
  assert.equal(layerCompression(MEDIA_TYPES.ociLayerZstd), 'zstd');
  assert.equal(layerCompression(MEDIA_TYPES.dockerLayerGzip), 'gzip');
  assert.equal(layerCompression('application/octet-stream'), undefined);
});

test('property: arbitrary JSON parses or fails with an image code, never anything else', async () => {
  const fc = (await import('fast-check')).default;
  const codes = ['ERR_IMAGE_INVALID', 'ERR_IMAGE_MEDIA_TYPE'];
  const onlyImageErrors = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof BrigError && codes.includes(e.code), String(e));
    }
  };
  // documents close to valid ones, with one field replaced by arbitrary JSON
  const field = fc.constantFrom(
    'schemaVersion',
    'mediaType',
    'config',
    'layers',
    'manifests',
    'annotations',
    'rootfs',
    'os',
  );
  fc.assert(
    fc.property(field, fc.jsonValue(), (k, v) => {
      onlyImageErrors(() => parseManifest({ ...manifest(), [k]: v }));
      onlyImageErrors(() => parseConfig({ ...config(), [k]: v }));
      onlyImageErrors(() => parseIndex({ schemaVersion: 2, manifests: [], [k]: v }));
    }),
  );
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      onlyImageErrors(() => parseManifest(v));
      onlyImageErrors(() => parseConfig(v));
      onlyImageErrors(() => parseIndex(v));
    }),
  );
});

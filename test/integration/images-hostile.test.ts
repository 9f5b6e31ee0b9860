/**
 * Hostile and broken image sources: each import fails with a precise code and leaves the content
 * store, the images table and the leases exactly as they were.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { ErrorCode } from '../../src/errors/errors.ts';
import { BrigError } from '../../src/errors/errors.ts';
import { MEDIA_TYPES } from '../../src/images/oci.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import {
  busyboxLayout,
  type Env,
  indexOf,
  putBlob,
  readJson,
  setIndex,
  setup,
  snapshotState,
} from './images-support.ts';

const needs = requires({ root: true, linux: true, commands: ['umoci', 'busybox', 'tar'] });

// biome-ignore lint/suspicious/noExplicitAny: the tests edit arbitrary JSON documents
type Json = any;

interface Parts {
  layout: string;
  manifestDesc: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
  manifest: Record<string, Json>;
  config: Record<string, Json>;
}

function parts(t: TestContext): Parts {
  const layout = busyboxLayout(t);
  const manifestDesc = indexOf(layout).manifests[0]!;
  const manifest = readJson(layout, manifestDesc.digest);
  const config = readJson(layout, (manifest.config as { digest: string }).digest);
  return { layout, manifestDesc, manifest, config };
}

/** Writes a new manifest (and config) into the layout and points index.json at it. */
function withManifest(p: Parts, manifest: unknown, config?: unknown): void {
  const m = manifest as Record<string, Json>;
  if (config !== undefined) m.config = putBlob(p.layout, JSON.stringify(config), MEDIA_TYPES.ociConfig);
  const d = putBlob(
    p.layout,
    typeof manifest === 'string' ? manifest : JSON.stringify(manifest),
    MEDIA_TYPES.ociManifest,
  );
  setIndex(p.layout, [{ ...d, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }]);
}

async function expectRefused(
  t: TestContext,
  env: Env,
  source: string,
  code: ErrorCode,
  opts = {},
): Promise<void> {
  const before = snapshotState(env);
  await assert.rejects(env.images.import(source, opts), (e) => {
    assert.ok(e instanceof BrigError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
  assert.equal(snapshotState(env), before, 'the content store, images and leases are unchanged');
  t.diagnostic(`${code} as expected`);
}

/** An env that already holds an unrelated image (whose blobs the failed imports must not touch). */
async function envWithImage(t: TestContext): Promise<Env> {
  const env = setup(t);
  const src = join(tempDir(t), 'tiny');
  mkdirSync(join(src, 'etc'), { recursive: true });
  writeFileSync(join(src, 'etc', 'hostname'), 'tiny\n');
  await env.images.import(src, { name: 'keep:me' });
  return env;
}

const clone = <T>(x: T): T => structuredClone(x);

describe('images: hostile and broken sources', needs, () => {
  test('malformed documents', async (t) => {
    const env = await envWithImage(t);
    let p = parts(t);
    withManifest(p, '{"schemaVersion": 2, "config": ');
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    p = parts(t);
    const m1 = clone(p.manifest);
    m1.layers[0].mediaType = 'application/x-tar-but-not-really';
    withManifest(p, m1);
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_MEDIA_TYPE');

    p = parts(t);
    const c1 = clone(p.config);
    c1.rootfs.diff_ids.push(c1.rootfs.diff_ids[0]);
    withManifest(p, clone(p.manifest), c1);
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    p = parts(t);
    const c2 = clone(p.config);
    c2.brig = { volumes: { data: { destination: 'relative/path' } } };
    withManifest(p, clone(p.manifest), c2);
    await expectRefused(t, env, p.layout, 'ERR_BRIG_SECTION_INVALID');

    p = parts(t);
    const c3 = clone(p.config);
    delete c3.os;
    withManifest(p, clone(p.manifest), c3);
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    p = parts(t);
    writeFileSync(join(p.layout, 'index.json'), '[]');
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    p = parts(t);
    writeFileSync(join(p.layout, 'oci-layout'), '{"imageLayoutVersion": "2.0.0"}');
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    // a manifest whose own mediaType says it is an index
    p = parts(t);
    const m2 = clone(p.manifest);
    m2.mediaType = MEDIA_TYPES.ociIndex;
    withManifest(p, m2);
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_MEDIA_TYPE');
  });

  test('wrong digests and sizes, missing and symlinked blobs', async (t) => {
    const env = await envWithImage(t);
    const layerPath = (p: Parts) => join(p.layout, 'blobs', 'sha256', p.manifest.layers[0].digest.slice(7));

    // same size, different bytes
    let p = parts(t);
    execFileSync('sh', [
      '-c',
      `printf 'XXXX' | dd of=${layerPath(p)} bs=1 seek=100 conv=notrunc status=none`,
    ]);
    await expectRefused(t, env, p.layout, 'ERR_CONTENT_DIGEST_MISMATCH');

    p = parts(t);
    rmSync(layerPath(p));
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    p = parts(t);
    const elsewhere = join(tempDir(t), 'real-layer');
    renameSync(layerPath(p), elsewhere);
    symlinkSync(elsewhere, layerPath(p));
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    // a huge declared layer size
    p = parts(t);
    const m1 = clone(p.manifest);
    m1.layers[0].size = 2 ** 50;
    withManifest(p, m1);
    await expectRefused(t, env, p.layout, 'ERR_CONTENT_SIZE_MISMATCH');

    // a huge declared manifest size
    p = parts(t);
    setIndex(p.layout, [{ ...p.manifestDesc, size: 2 ** 40 }]);
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    // a declared size smaller than the blob
    p = parts(t);
    const m2 = clone(p.manifest);
    m2.layers[0].size -= 1;
    withManifest(p, m2);
    await expectRefused(t, env, p.layout, 'ERR_CONTENT_SIZE_MISMATCH');

    // index.json as a symlink (to a valid index elsewhere)
    p = parts(t);
    const realIndex = join(tempDir(t), 'index.json');
    renameSync(join(p.layout, 'index.json'), realIndex);
    symlinkSync(realIndex, join(p.layout, 'index.json'));
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');

    // a layout whose index points to a blob that is not there at all
    p = parts(t);
    setIndex(p.layout, [{ ...p.manifestDesc, digest: `sha256:${'0'.repeat(64)}` }]);
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_INVALID');
  });

  test('several images need --ref; an unknown --ref is not found', async (t) => {
    const env = await envWithImage(t);
    const p = parts(t);
    setIndex(p.layout, [
      { ...p.manifestDesc, annotations: { 'org.opencontainers.image.ref.name': 'a' } },
      { ...p.manifestDesc, annotations: { 'org.opencontainers.image.ref.name': 'b' } },
    ]);
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_AMBIGUOUS');
    await expectRefused(t, env, p.layout, 'ERR_IMAGE_NOT_FOUND', { ref: 'c' });
    const r = await env.images.import(p.layout, { ref: 'b', name: 'picked' });
    assert.deepEqual(r.names, ['docker.io/library/picked:latest']);
  });

  test('archives: a blob that does not match its name, a docker manifest.json pointing outside', async (t) => {
    const env = await envWithImage(t);
    const p = parts(t);
    const tmp = tempDir(t);
    // OCI archive whose layer bytes were altered
    execFileSync('sh', [
      '-c',
      `printf 'XXXX' | dd of=${join(p.layout, 'blobs', 'sha256', p.manifest.layers[0].digest.slice(7))} bs=1 seek=100 conv=notrunc status=none`,
    ]);
    execFileSync('tar', ['-cf', join(tmp, 'bad.tar'), '-C', p.layout, '.']);
    await expectRefused(t, env, join(tmp, 'bad.tar'), 'ERR_CONTENT_DIGEST_MISMATCH');

    // an OCI archive whose layer entry is a symlink to a file outside the archive
    const q = parts(t);
    const layer = join(q.layout, 'blobs', 'sha256', q.manifest.layers[0].digest.slice(7));
    const outside = join(tempDir(t), 'outside-layer');
    renameSync(layer, outside);
    symlinkSync(outside, layer);
    execFileSync('tar', ['-cf', join(tmp, 'link.tar'), '-C', q.layout, '.']);
    await expectRefused(t, env, join(tmp, 'link.tar'), 'ERR_IMAGE_INVALID');

    // docker-archive whose manifest.json names a path outside the archive
    const d = join(tmp, 'docker');
    mkdirSync(d);
    writeFileSync(
      join(d, 'manifest.json'),
      JSON.stringify([{ Config: '../../etc/passwd', RepoTags: ['x:y'], Layers: [] }]),
    );
    execFileSync('tar', ['-cf', join(tmp, 'docker.tar'), '-C', d, '.']);
    await expectRefused(t, env, join(tmp, 'docker.tar'), 'ERR_IMAGE_INVALID');

    writeFileSync(join(d, 'manifest.json'), '{"not": "an array"}');
    execFileSync('tar', ['-cf', join(tmp, 'docker2.tar'), '-C', d, '.']);
    await expectRefused(t, env, join(tmp, 'docker2.tar'), 'ERR_IMAGE_INVALID');

    // a truncated archive
    execFileSync('sh', ['-c', `head -c 5000 ${join(tmp, 'bad.tar')} > ${join(tmp, 'cut.tar')}`]);
    await expectRefused(t, env, join(tmp, 'cut.tar'), 'ERR_IMAGE_SOURCE');
  });
});

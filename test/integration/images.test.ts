/**
 * Interoperability of brig's image store with umoci, skopeo, podman and oci-image-tool (real tools, root).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import { MEDIA_TYPES } from '../../src/images/oci.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { busyboxLayout, indexOf, putBlob, run, setIndex, setup, sha } from './images-support.ts';
import { describeTree, diffTrees } from './images-tree.ts';

const needs = requires({
  root: true,
  linux: true,
  commands: ['umoci', 'skopeo', 'oci-image-tool', 'busybox', 'tar', 'zstd', 'podman'],
});

function umociRootfs(t: import('node:test').TestContext, layout: string, tag = 'latest'): string {
  const bundle = join(tempDir(t), 'bundle');
  run('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  return join(bundle, 'rootfs');
}

function assertSameTree(a: string, b: string): void {
  const d = diffTrees(describeTree(a), describeTree(b));
  assert.deepEqual(d, [], d.slice(0, 20).join('\n'));
}

describe('images: interoperability with umoci, skopeo, podman and oci-image-tool', needs, () => {
  test('an umoci-made layout imports; brig unpack gives the tree umoci unpack gives', async (t) => {
    const env = setup(t);
    const layout = busyboxLayout(t);
    const r = await env.images.import(layout, { name: 'busybox' });
    assert.equal(r.source, 'oci-layout');
    assert.deepEqual(r.names, ['docker.io/library/busybox:latest']);
    const idx = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    assert.equal(r.manifestDigest, idx.manifests[0].digest);
    const list = await env.images.list();
    assert.equal(list.length, 1);
    const info = await env.images.inspect('busybox:latest');
    assert.equal(info.id, r.id);
    assert.equal(info.config.os, 'linux');
    assert.equal(info.layers.length, 1);
    const dir = join(tempDir(t), 'rootfs');
    await env.images.unpack('busybox', dir);
    assertSameTree(dir, umociRootfs(t, layout));
  });

  test('skopeo oci-archive and docker-archive copies import and unpack to the same tree', async (t) => {
    const env = setup(t);
    const layout = busyboxLayout(t);
    const tmp = tempDir(t);
    run('skopeo', ['copy', '-q', `oci:${layout}:latest`, `oci-archive:${tmp}/oci.tar:latest`]);
    run('skopeo', [
      'copy',
      '-q',
      `oci:${layout}:latest`,
      `docker-archive:${tmp}/docker.tar:example.org/bb:v1`,
    ]);
    const oci = await env.images.import(`${tmp}/oci.tar`, { name: 'from-oci-archive' });
    assert.equal(oci.source, 'oci-archive');
    const docker = await env.images.import(`${tmp}/docker.tar`);
    assert.equal(docker.source, 'docker-archive');
    assert.ok(docker.names.includes('example.org/bb:v1'), 'the RepoTag becomes the name');
    // skopeo keeps the config byte for byte: the same image id, whatever the transport
    assert.equal(docker.id, oci.id);
    const expected = umociRootfs(t, layout);
    for (const name of ['from-oci-archive', 'example.org/bb:v1']) {
      const dir = join(tmp, `rootfs-${name.replace(/\W/g, '_')}`);
      await env.images.unpack(name, dir);
      assertSameTree(dir, expected);
    }
    // nothing but the two images' blobs is left in the store (archive extras are collected)
    const count = async () => {
      let n = 0;
      for await (const _ of env.content.list()) n++;
      return n;
    };
    // OCI: manifest, config, gzip layer; docker-archive adds its uncompressed layer and the
    // converted manifest (the config is shared)
    assert.equal(await count(), 5);
    assert.deepEqual((await env.images.gc()).removed, []);
  });

  test('an exported image passes oci-image-tool validate, skopeo inspect and umoci unpack', async (t) => {
    const env = setup(t);
    const layout = busyboxLayout(t);
    await env.images.import(layout, { name: 'example.org/tools/bb:1.0' });
    const out = tempDir(t);
    const res = await env.images.export('example.org/tools/bb:1.0', join(out, 'layout'));
    assert.equal(res.format, 'oci-layout');
    assert.equal(res.refName, '1.0');
    run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1.0', join(out, 'layout')]);
    const inspected = JSON.parse(run('skopeo', ['inspect', `oci:${join(out, 'layout')}:1.0`]));
    assert.equal(inspected.Digest, res.manifestDigest);
    assertSameTree(umociRootfs(t, join(out, 'layout'), '1.0'), umociRootfs(t, layout));

    const tar = await env.images.export('example.org/tools/bb:1.0', join(out, 'image.tar'));
    assert.equal(tar.format, 'oci-archive');
    const fromTar = JSON.parse(run('skopeo', ['inspect', `oci-archive:${join(out, 'image.tar')}:1.0`]));
    assert.equal(fromTar.Digest, res.manifestDigest);
    // and the export imports back, with the name it carries
    const env2 = setup(t);
    const back = await env2.images.import(join(out, 'image.tar'));
    assert.deepEqual(back.names, ['example.org/tools/bb:1.0']);
    assert.equal(back.manifestDigest, res.manifestDigest);
    // export refuses a non-empty destination
    await assert.rejects(env.images.export('example.org/tools/bb:1.0', join(out, 'layout')), (e) =>
      isBrigError(e, 'ERR_ALREADY_EXISTS'),
    );
  });

  test('a root filesystem imports from a directory and from plain, gzip and zstd tarballs', async (t) => {
    const env = setup(t);
    const src = umociRootfs(t, busyboxLayout(t));
    const tmp = tempDir(t);
    execFileSync('tar', ['--numeric-owner', '--xattrs', '-cf', `${tmp}/rootfs.tar`, '-C', src, '.']);
    execFileSync('sh', [
      '-c',
      `gzip -c ${tmp}/rootfs.tar > ${tmp}/rootfs.tar.gz && zstd -q -c ${tmp}/rootfs.tar > ${tmp}/rootfs.tar.zst`,
    ]);
    const fromDir = await env.images.import(src, { name: 'rootfs:dir' });
    assert.equal(fromDir.source, 'rootfs-dir');
    for (const [f, name] of [
      ['rootfs.tar', 'rootfs:tar'],
      ['rootfs.tar.gz', 'rootfs:gz'],
      ['rootfs.tar.zst', 'rootfs:zst'],
    ] as const) {
      const r = await env.images.import(join(tmp, f), { name });
      assert.equal(r.source, 'rootfs-tar', f);
    }
    for (const name of ['rootfs:dir', 'rootfs:tar', 'rootfs:gz', 'rootfs:zst']) {
      const info = await env.images.inspect(name);
      assert.equal(info.config.os, 'linux');
      assert.equal(info.config.architecture, 'amd64');
      const dir = join(tmp, `unpacked-${name.replace(':', '-')}`);
      await env.images.unpack(name, dir);
      assertSameTree(dir, src);
    }
    // the exported rootfs image is a valid OCI image too (oci-image-tool 1.0 predates tar+zstd)
    await env.images.export('rootfs:gz', join(tmp, 'gz-layout'));
    run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=gz', join(tmp, 'gz-layout')]);
  });

  test('an index is resolved to the host platform, or to --platform', async (t) => {
    const env = setup(t);
    const layout = busyboxLayout(t);
    const m = indexOf(layout).manifests[0]!;
    const bogus = `sha256:${'e'.repeat(64)}`;
    const nested = putBlob(
      layout,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [
          {
            mediaType: m.mediaType,
            digest: bogus,
            size: 10,
            platform: { os: 'linux', architecture: 'arm64' },
          },
          {
            mediaType: m.mediaType,
            digest: m.digest,
            size: m.size,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: m.mediaType,
            digest: bogus,
            size: 10,
            platform: { os: 'freebsd', architecture: 'amd64' },
          },
        ],
      }),
      MEDIA_TYPES.ociIndex,
    );
    setIndex(layout, [{ ...nested, annotations: { 'io.containerd.image.name': 'example.org/multi:1' } }]);
    const r = await env.images.import(layout);
    assert.equal(r.manifestDigest, m.digest, 'the linux/amd64 manifest (the host of this service)');
    assert.deepEqual(r.names, ['example.org/multi:1']);
    await assert.rejects(
      env.images.import(layout, { platform: { os: 'linux', architecture: 'riscv64' } }),
      (e) => isBrigError(e, 'ERR_IMAGE_PLATFORM'),
    );
    // the freebsd entry's manifest is not in the layout
    await assert.rejects(
      env.images.import(layout, { platform: { os: 'freebsd', architecture: 'x86_64' } }),
      (e) => isBrigError(e, 'ERR_IMAGE_INVALID'),
    );
    // platform entries listed directly in index.json are one image
    setIndex(layout, [
      { ...m, platform: { os: 'linux', architecture: 'amd64' } },
      {
        mediaType: m.mediaType,
        digest: bogus,
        size: 10,
        platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      },
    ]);
    assert.equal((await env.images.import(layout, { name: 'direct' })).manifestDigest, m.digest);
  });

  test('an old-style docker save archive (layer directories, a symlinked duplicate layer) imports', async (t) => {
    const env = setup(t);
    const src = umociRootfs(t, busyboxLayout(t));
    const dir = join(tempDir(t), 'save');
    const l1 = 'a'.repeat(64);
    const l2 = 'b'.repeat(64);
    mkdirSync(join(dir, l1), { recursive: true });
    mkdirSync(join(dir, l2));
    execFileSync('tar', ['--numeric-owner', '-cf', join(dir, l1, 'layer.tar'), '-C', src, '.']);
    symlinkSync(`../${l1}/layer.tar`, join(dir, l2, 'layer.tar'));
    const diffId = sha(readFileSync(join(dir, l1, 'layer.tar')));
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [diffId, diffId] },
    });
    const configName = `${sha(config).slice(7)}.json`;
    writeFileSync(join(dir, configName), config);
    writeFileSync(join(dir, l1, 'VERSION'), '1.0');
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify([
        { Config: configName, RepoTags: ['old/style:save'], Layers: [`${l1}/layer.tar`, `${l2}/layer.tar`] },
      ]),
    );
    writeFileSync(join(dir, 'repositories'), JSON.stringify({ 'old/style': { save: l2 } }));
    execFileSync('tar', ['-cf', join(dir, '..', 'save.tar'), '-C', dir, '.']);
    const r = await env.images.import(join(dir, '..', 'save.tar'));
    assert.equal(r.source, 'docker-archive');
    assert.equal(r.id, sha(config));
    assert.deepEqual(r.names, ['docker.io/old/style:save']);
    const info = await env.images.inspect('old/style:save');
    assert.equal(info.layers.length, 2);
    assert.equal(info.layers[0]!.digest, diffId);
    const out = join(tempDir(t), 'rootfs');
    await env.images.unpack('old/style:save', out);
    assertSameTree(out, src);
  });

  test('podman save archives (docker-archive, as docker save writes it, and oci-archive) import with the same id and tree', async (t) => {
    const env = setup(t);
    const src = umociRootfs(t, busyboxLayout(t));
    const tmp = tempDir(t);
    execFileSync('tar', ['--numeric-owner', '-cf', join(tmp, 'rootfs.tar'), '-C', src, '.']);
    // podman with its own storage in the temp dir (vfs: nothing mounted)
    const podman = (args: string[]) =>
      execFileSync(
        'podman',
        [
          '--root',
          join(tmp, 'storage'),
          '--runroot',
          join(tmp, 'run'),
          '--storage-driver',
          'vfs',
          '--cgroup-manager',
          'cgroupfs',
          '--events-backend',
          'none',
          ...args,
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      ).trim();
    podman(['import', join(tmp, 'rootfs.tar'), 'localhost/podman-bb:1']);
    const podmanId = podman(['inspect', '--format', '{{.Id}}', 'localhost/podman-bb:1']);
    podman(['save', '--format', 'docker-archive', '-o', join(tmp, 'docker.tar'), 'localhost/podman-bb:1']);
    podman(['save', '--format', 'oci-archive', '-o', join(tmp, 'oci.tar'), 'localhost/podman-bb:1']);

    const r = await env.images.import(join(tmp, 'docker.tar'));
    assert.equal(r.source, 'docker-archive');
    assert.equal(r.id, `sha256:${podmanId}`);
    assert.deepEqual(r.names, ['localhost/podman-bb:1']);
    const out = join(tempDir(t), 'rootfs');
    await env.images.unpack('localhost/podman-bb:1', out);
    assertSameTree(out, src);

    const o = await env.images.import(join(tmp, 'oci.tar'), { name: 'podman-oci:1' });
    assert.equal(o.source, 'oci-archive');
    assert.equal(o.id, r.id);
  });

  test('a plain file that is not a tar is refused', async (t) => {
    const env = setup(t);
    const f = join(tempDir(t), 'junk.tar');
    writeFileSync(f, Buffer.alloc(2000, 0x41));
    await assert.rejects(env.images.import(f), (e) => isBrigError(e, 'ERR_IMAGE_SOURCE'));
    const d = join(tempDir(t), 'sock');
    mkdirSync(d);
    await assert.rejects(env.images.import(join(d, 'absent')), (e) => isBrigError(e, 'ERR_IMAGE_SOURCE'));
  });
});

/**
 * What the pull tests share (registry-unpack, freebsd-pull, layer-gc-pull, layer-gc): gzip
 * layers made from tar entries, an image of such layers stored in a content store (to push),
 * brigd's snapshot rows read from its database (and the checks of a pulled chain and of a
 * container's snapshot on it), a pull through the API that collects the progress stream (the
 * stream waits while `onProgress` does), and the set-up of the pull-by-digest and digest-name
 * tests (registryDaemon: a registry, a brig to fill it, a brigd that pulls from it).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import type { ContentStore, Descriptor, Digest } from '../../src/content/store.ts';
import { busyboxImage } from '../support/busybox.ts';
import { startDaemon, type TestDaemon } from '../support/daemon.ts';
import { brig, startFaultProxy, startRegistry } from '../support/registry.ts';
import { tarOf } from './layers-helpers.ts';

export const sha = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Layer {
  desc: Descriptor;
  diffId: Digest;
  bytes: Buffer;
}

/** A gzip layer from tar entries. */
export function layerOf(entries: Parameters<typeof tarOf>[0]): Layer {
  const tar = tarOf(entries);
  const gz = gzipSync(tar);
  return {
    desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length },
    diffId: sha(tar),
    bytes: gz,
  };
}

/** The busybox fixture's one layer (test/support/busybox.ts), with its diff id. */
export function busyboxLayer(): Layer {
  const { layout } = busyboxImage();
  const blob = (d: string) => readFileSync(join(layout, 'blobs', 'sha256', d.slice(7)));
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  const config = JSON.parse(blob(manifest.config.digest).toString());
  const desc = manifest.layers[0] as Descriptor;
  return { desc, diffId: config.rootfs.diff_ids[0], bytes: blob(desc.digest) };
}

/**
 * Stores an image of `layers` for `os`/amd64 (PATH=/bin:/usr/bin, Cmd /bin/sh) in `content`:
 * the layers not there yet, its config and its manifest; returns the manifest's descriptor.
 */
export async function storeImage(content: ContentStore, layers: Layer[], os = 'linux'): Promise<Descriptor> {
  for (const l of layers) {
    if (!(await content.has(l.desc.digest as Digest)))
      await content.ingest(l.bytes, { digest: l.desc.digest as Digest, size: l.bytes.length });
  }
  const put = async (mediaType: string, doc: unknown): Promise<Descriptor> => {
    const bytes = Buffer.from(JSON.stringify(doc));
    const digest = sha(bytes);
    await content.ingest(bytes, { digest, size: bytes.length });
    return { mediaType, digest, size: bytes.length };
  };
  const config = await put('application/vnd.oci.image.config.v1+json', {
    architecture: 'amd64',
    os,
    config: { Env: ['PATH=/bin:/usr/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  return put('application/vnd.oci.image.manifest.v1+json', {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: layers.map((l) => l.desc),
  });
}

/** A layer with a file, then an entry reaching outside the root (`../sentinel/pwned`). */
export const hostileLayer = (): Layer =>
  layerOf([
    { name: 'ok', data: 'fine' },
    { name: '../sentinel/pwned', data: 'x' },
  ]);

export interface SnapshotRow {
  key: string;
  kind: string;
  parent: string | null;
  created_at: number;
  labels: string;
  info: string;
}

/**
 * Every snapshot row brigd has (only `driver`'s when given), read from its database (read-only,
 * while brigd runs).
 */
export function snapshotRows(d: TestDaemon, driver?: string): SnapshotRow[] {
  const db = new Database(join(d.root, 'brig.db'), { readonly: true, fileMustExist: true });
  try {
    const cols = 'SELECT key, kind, parent, created_at, labels, info FROM snapshots';
    return (
      driver === undefined
        ? db.prepare(`${cols} ORDER BY key`).all()
        : db.prepare(`${cols} WHERE driver = ? ORDER BY key`).all(driver)
    ) as SnapshotRow[];
  } finally {
    db.close();
  }
}

/** Asserts `rows` are exactly `chain`, committed, each on the one before it. */
export function assertCommittedChain(rows: SnapshotRow[], chain: Digest[]): void {
  assert.deepEqual(
    rows.map((r) => [r.key, r.kind, r.parent]),
    chain
      .map((key, i) => [key, 'committed', i === 0 ? null : chain[i - 1]])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
}

/**
 * A running container's own snapshot row, checked: brigd's committed rows are still exactly
 * `committed` (the very same rows: nothing was unpacked again), and one other row stands on `top`.
 */
export function ownSnapshot(d: TestDaemon, committed: SnapshotRow[], top: Digest | undefined): SnapshotRow {
  const rows = snapshotRows(d);
  assert.deepEqual(
    rows.filter((r) => r.kind === 'committed'),
    committed,
  );
  const own = rows.filter((r) => r.kind !== 'committed');
  assert.equal(own.length, 1);
  assert.equal(own[0]!.parent, top);
  return own[0]!;
}

export interface Progress {
  id: string;
  kind?: string;
  status: string;
}

/** POST /registry/pull, collecting progress; `onProgress` may await (the stream waits). */
export async function apiPull(
  d: TestDaemon,
  body: Record<string, unknown>,
  onProgress?: (p: Progress) => Promise<void> | void,
): Promise<{ progress: Progress[]; result: Record<string, unknown> }> {
  const progress: Progress[] = [];
  let result: Record<string, unknown> | undefined;
  for await (const l of d.client.lines<{ progress?: Progress; result?: Record<string, unknown> }>(
    'POST',
    '/registry/pull',
    { body },
  )) {
    if (l.progress) {
      progress.push(l.progress);
      await onProgress?.(l.progress);
    }
    if (l.result) result = l.result;
  }
  assert.ok(result, 'the stream ended with a result');
  return { progress, result };
}

/** Pulls `references` at the same time; checks that `base` was extracted once among them all. */
export async function pullsSharingBase(d: TestDaemon, references: string[], base: Layer) {
  const pulls = await Promise.all(references.map((reference) => apiPull(d, { reference })));
  const extracting = pulls
    .flatMap((p) => p.progress)
    .filter((p) => p.id === base.desc.digest && p.status === 'extracting');
  assert.equal(extracting.length, 1);
  return pulls;
}

/** Asserts that `pull` fails with ERR_LAYER_UNSAFE_PATH (a layer reaching outside its root). */
export async function assertUnsafeLayer(pull: Promise<unknown>): Promise<void> {
  await assert.rejects(pull, (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_LAYER_UNSAFE_PATH');
    return true;
  });
}

/**
 * docker-registry on 127.0.0.1 (`reg`), an in-process brig that pushes test images into it
 * (`src`), a brigd that may pull from it over plain HTTP (`d`), and `images()`: brigd's images
 * (`brig images --json`) as {id, names sorted}. `proxy`: brigd may also go through the fault
 * proxy of test/support/registry.ts in front of the registry (it records every request).
 */
export async function registryDaemon(t: TestContext, opts: { proxy?: boolean } = {}) {
  const reg = await startRegistry(t);
  const src = brig(t, { insecure: [reg.host] });
  const proxy = opts.proxy ? await startFaultProxy(t, reg.port) : undefined;
  const insecure = proxy ? [reg.host, proxy.host] : [reg.host];
  const d = await startDaemon(t, { config: { registries: { insecure } } });
  const images = async () => {
    const r = await d.brig(['images', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as Array<{ id: string; names: string[] }>).map((i) => ({
      id: i.id,
      names: [...i.names].sort(),
    }));
  };
  return { reg, src, d, images, proxy };
}

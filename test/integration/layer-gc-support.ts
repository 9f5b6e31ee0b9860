/**
 * Helpers of the layer GC integration tests: layered images made offline from the busybox
 * fixture, brigd's overlay snapshot rows (pull-support.ts), and the checks that nothing is
 * left behind (a directory per row, no mount under the root).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Digest } from '../../src/content/store.ts';
import { chainIds } from '../../src/snapshots/unpack.ts';
import { busyboxImage } from '../support/busybox.ts';
import type { TestDaemon } from '../support/daemon.ts';
import { pollFor } from '../support/poll.ts';
import { tempDir } from '../support/tmp.ts';
import { tarOf } from './layers-helpers.ts';
import { type SnapshotRow, sha, snapshotRows } from './pull-support.ts';

export interface Made {
  layout: string;
  manifest: { layers: Array<{ digest: Digest; size: number; mediaType: string }> };
  diffIds: Digest[];
  chain: Digest[];
}

/** The busybox layout with one gzip layer per name added on top (a file /<name> in each). */
export function layeredImage(t: TestContext, names: string[]): Made {
  const layout = join(tempDir(t), 'layout');
  cpSync(busyboxImage().layout, layout, { recursive: true });
  const blobPath = (d: string) => join(layout, 'blobs', 'sha256', d.slice(7));
  const put = (b: Buffer, mediaType: string) => {
    const digest = sha(b);
    writeFileSync(blobPath(digest), b);
    return { mediaType, digest, size: b.length };
  };
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blobPath(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(readFileSync(blobPath(manifest.config.digest), 'utf8'));
  delete config.history;
  for (const n of names) {
    const tar = tarOf([{ name: n, data: `layer ${n}\n` }]);
    manifest.layers.push(put(gzipSync(tar), 'application/vnd.oci.image.layer.v1.tar+gzip'));
    config.rootfs.diff_ids.push(sha(tar));
  }
  manifest.config = put(Buffer.from(JSON.stringify(config)), 'application/vnd.oci.image.config.v1+json');
  const m = put(Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...m, annotations: index.manifests[0].annotations }] }),
  );
  return { layout, manifest, diffIds: config.rootfs.diff_ids, chain: chainIds(config.rootfs.diff_ids) };
}

/** brigd's overlay snapshot rows. */
export const rows = (d: TestDaemon): SnapshotRow[] => snapshotRows(d, 'overlay');

export const committed = (d: TestDaemon) =>
  rows(d)
    .filter((r) => r.kind === 'committed')
    .map((r) => r.key)
    .sort();

/** The numbered directories under the overlay snapshotter's root: exactly the rows' ids. */
export function assertStorageMatchesRows(d: TestDaemon): void {
  const dir = join(d.root, 'snapshots', 'overlay', 'snapshots');
  const onDisk = existsSync(dir) ? readdirSync(dir).sort() : [];
  const ids = rows(d)
    .map((r) => String((JSON.parse(r.info) as { id: number }).id))
    .sort();
  assert.deepEqual(onDisk, ids, 'a directory per row, none without one');
}

export function assertNoMounts(d: TestDaemon): void {
  const lines = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(d.root));
  assert.deepEqual(lines, [], 'no mount under the root is left');
}

export async function ok(d: TestDaemon, args: string[]): Promise<string> {
  const r = await d.brig(args);
  assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Waits until `fn` is true (every 25 ms, failing after 10 s). */
export async function waitFor(what: string, fn: () => boolean): Promise<void> {
  await pollFor(what, fn, { timeoutMs: 10_000, everyMs: 25 });
}

/**
 * What the pull tests share (registry-unpack, freebsd-pull, layer-gc-pull): gzip layers made
 * from tar entries, brigd's snapshot rows read from its database, and a pull through the API that
 * collects the progress stream (the stream waits while `onProgress` does).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import type { Descriptor, Digest } from '../../src/content/store.ts';
import type { TestDaemon } from '../support/daemon.ts';
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

export interface SnapshotRow {
  key: string;
  kind: string;
  parent: string | null;
  created_at: number;
  labels: string;
  info: string;
}

/** Every snapshot row brigd has, read from its database (read-only, while brigd runs). */
export function snapshotRows(d: TestDaemon): SnapshotRow[] {
  const db = new Database(join(d.root, 'brig.db'), { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT key, kind, parent, created_at, labels, info FROM snapshots ORDER BY key')
      .all() as SnapshotRow[];
  } finally {
    db.close();
  }
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

/**
 * Shared set-up for the image integration tests: a LocalImageService on a temporary root, the
 * busybox fixture image (built once per process with ../shared/fixtures/make-busybox-image.sh),
 * and helpers to edit an OCI layout.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { LocalContentStore } from '../../src/content/local-store.ts';
import type { Descriptor, Digest } from '../../src/content/store.ts';
import { LocalImageService } from '../../src/images/local-image-service.ts';
import { type DB, openDatabase } from '../../src/metadata/db.ts';
import { tempDir } from '../support/tmp.ts';

export const FIXTURES = process.env.BRIG_SHARED_FIXTURES ?? '/work/shared/fixtures';

export interface Env {
  root: string;
  db: DB;
  content: LocalContentStore;
  images: LocalImageService;
}

export function setup(t: TestContext): Env {
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(root, db);
  const images = new LocalImageService({ content, db, platform: { os: 'linux', architecture: 'amd64' } });
  return { root, db, content, images };
}

let busybox: string | undefined;

/** The busybox OCI layout (tag "latest"), built once per test process; a fresh copy per call. */
export function busyboxLayout(t: TestContext): string {
  if (!busybox) {
    const dir = mkdtempSync(join(tmpdir(), 'brig-bb-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    execFileSync('sh', [join(FIXTURES, 'make-busybox-image.sh'), join(dir, 'img')], { stdio: 'ignore' });
    busybox = join(dir, 'img');
  }
  const copy = join(tempDir(t), 'layout');
  cpSync(busybox, copy, { recursive: true });
  return copy;
}

export function sha(b: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** Writes a blob into a layout and returns its descriptor. */
export function putBlob(layout: string, bytes: Buffer | string, mediaType: string): Descriptor {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  const digest = sha(b);
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), b);
  return { mediaType, digest, size: b.length };
}

export function readJson(layout: string, digest: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', digest.replace('sha256:', '')), 'utf8'));
}

export function indexOf(layout: string): { manifests: Descriptor[] } & Record<string, unknown> {
  return JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
}

export function setIndex(layout: string, manifests: unknown[]): void {
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
}

/** What must not change when an import fails: blobs, ingest leftovers, image rows, leases. */
export function snapshotState(env: Env): string {
  const dir = (p: string) => (existsSync(p) ? readdirSync(p).sort() : []);
  return JSON.stringify({
    blobs: dir(join(env.root, 'content', 'blobs', 'sha256')),
    ingest: dir(join(env.root, 'content', 'ingest')),
    images: env.db.prepare('SELECT * FROM images ORDER BY name').all(),
    leases: env.db.prepare('SELECT count(*) AS n FROM lease_blobs').get(),
  });
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A LocalImageService on a temporary root for unit tests (its database closed after the test),
 * and a small tree to import: `etc/motd` holding TEXT (one image per TEXT).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { LocalContentStore } from '../../src/content/local-store.ts';
import { LocalImageService } from '../../src/images/local-image-service.ts';
import type { Platform } from '../../src/images/oci.ts';
import { openDatabase } from '../../src/metadata/db.ts';
import { type NameOptions, referenceResolver } from '../../src/registry/names.ts';
import { tempDir } from './tmp.ts';

export function imageServiceFor(t: TestContext, opts: { platform: Platform; names?: NameOptions }) {
  const root = tempDir(t);
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(root, db);
  const images = new LocalImageService({
    content,
    db,
    platform: opts.platform,
    ...(opts.names ? { normalize: referenceResolver(opts.names) } : {}),
  });
  return { root, db, content, images };
}

/** A directory with etc/motd holding `text`: a one-layer image's source for `images.import`. */
export function motdTree(t: TestContext, text: string): string {
  const d = join(tempDir(t), 'tree');
  mkdirSync(join(d, 'etc'), { recursive: true });
  writeFileSync(join(d, 'etc', 'motd'), text);
  return d;
}

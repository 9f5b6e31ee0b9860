/**
 * What the snapshot unit tests share (src/snapshots/*.test.ts): a native snapshotter on a fresh
 * database in a temp dir, the names a snapshotter holds, an image's layers as unpack takes them,
 * and fake layers: a text blob of `name=content` lines that `lineApplier` writes as files.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import type { ContentStore, Descriptor, Digest } from '../../src/content/store.ts';
import { BrigError } from '../../src/errors/errors.ts';
import { openDatabase } from '../../src/metadata/db.ts';
import { NativeSnapshotter } from '../../src/snapshots/native/native-snapshotter.ts';
import type { Snapshotter } from '../../src/snapshots/snapshotter.ts';
import type { ApplyOptions, ImageLayers } from '../../src/snapshots/unpack.ts';
import { tempDir } from './tmp.ts';

export interface TestLayer {
  desc: Descriptor;
  diffId: Digest;
}

/** A database and a native snapshotter (at `dir`/snapshots/native) in a fresh temp dir. */
export function nativeEnv(t: TestContext, prefix: string) {
  const dir = tempDir(t, prefix);
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  mkdirSync(join(dir, 'snapshots'));
  const s = new NativeSnapshotter(db, join(dir, 'snapshots', 'native'));
  return { dir, db, s };
}

/** The names of every snapshot `s` holds, sorted. */
export async function snapshotNames(s: Snapshotter): Promise<string[]> {
  const out: string[] = [];
  await s.walk((i) => {
    out.push(i.name);
  });
  return out.sort();
}

/** The layers of an image made of `layers`, bottom first. */
export const imageOf = (...layers: TestLayer[]): ImageLayers => ({
  layers: layers.map((l) => l.desc),
  diffIds: layers.map((l) => l.diffId),
});

/**
 * A fake layer: `text` stored in `content` as an uncompressed layer blob; its diff id is made up
 * from the text (the fake applier does not check it).
 */
export async function textLayer(content: ContentStore, text: string): Promise<TestLayer> {
  const b = Buffer.from(text);
  const info = await content.ingest(b);
  return {
    desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: info.digest, size: b.length },
    diffId: `sha256:${createHash('sha256').update(`diff ${text}`).digest('hex')}`,
  };
}

/**
 * A fake applier for text layers: each `name=content` line becomes a file; a line `FAIL` fails
 * like a hostile layer. Records each layer's expected digest in `applied` and, before writing,
 * waits for the gate `gates` holds for its diff id.
 */
export function lineApplier(opts: { applied?: string[]; gates?: Map<string, Promise<void>> } = {}) {
  return async (source: Readable, o: ApplyOptions): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of source) chunks.push(c as Buffer);
    opts.applied?.push(o.expectedDigest ?? '');
    await opts.gates?.get(o.expectedDiffId ?? '');
    for (const line of Buffer.concat(chunks).toString().split('\n').filter(Boolean)) {
      if (line === 'FAIL') throw new BrigError('ERR_LAYER_UNSAFE_PATH', 'hostile');
      const [name, content] = line.split('=');
      writeFileSync(join(o.root, name!), content ?? '');
    }
  };
}

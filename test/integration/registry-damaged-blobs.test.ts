/**
 * A pull reuses a blob already in the content store only when its stored size is the
 * descriptor's: a blob truncated or replaced on disk with another size (bit rot, a writer that
 * crashed on an old version) is fetched again and the verified copy renamed over it; so is a
 * stored manifest of the wrong size. The config, read whole by the pull, is verified: one damaged
 * at its size is fetched again too. Reusing an intact image reads no layer (one stat each).
 * brig's registry client (no unpack, as bench/registry.mjs measures it) against docker-registry.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Descriptor, Digest } from '../../src/content/store.ts';
import type { ProgressEvent } from '../../src/registry/progress.ts';
import { brig, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { layerOf, storeImage } from './pull-support.ts';

const needs = requires({ commands: ['docker-registry'] });
const platforms = [{ os: 'linux', architecture: 'amd64' }];

describe('pull: damaged blobs in the store', needs, () => {
  test('a stored blob of the wrong size is fetched again and replaced; a damaged config too', async (t) => {
    const reg = await startRegistry(t);
    const src = brig(t, { insecure: [reg.host] });
    const a = layerOf([{ name: 'a', data: 'A'.repeat(40_000) }]);
    const b = layerOf([{ name: 'b', data: 'B'.repeat(30_000) }]);
    const target = await storeImage(src.content, [a, b]);
    const ref = `${reg.host}/damaged/img:1`;
    await src.registry.push(ref, target);

    const dst = brig(t, { insecure: [reg.host] });
    const first = await dst.registry.pull(ref, { platforms });
    assert.ok(first.bytesFetched > 0);
    const config = first.config;
    const original = new Map<Digest, Buffer>();
    for (const d of [target, config, a.desc, b.desc] as Descriptor[])
      original.set(d.digest, await dst.content.readBytes(d.digest, { verify: true }));

    // reusing an intact image reads no blob but the config (the count the speed depends on)
    const reads: string[] = [];
    const { reader, readBytes } = dst.content;
    dst.content.reader = (d, o) => {
      reads.push(`reader ${d}`);
      return reader.call(dst.content, d, o);
    };
    dst.content.readBytes = (d, o) => {
      reads.push(`readBytes ${d}`);
      return readBytes.call(dst.content, d, o);
    };
    const intact = await dst.registry.pull(ref, { platforms });
    assert.equal(intact.bytesFetched, 0);
    assert.deepEqual(reads, [`readBytes ${config.digest}`]);

    // damage: layer a truncated, the manifest truncated, the config changed at its size
    const path = (d: Digest) => dst.content.blobPath(d);
    for (const d of [a.desc.digest, target.digest, config.digest]) chmodSync(path(d), 0o644);
    truncateSync(path(a.desc.digest), 1000);
    truncateSync(path(target.digest), 10);
    // still valid JSON, so nothing but its digest tells (PATH=/bin:/usr/bin -> /USR/bin)
    const cfg = Buffer.from(original.get(config.digest)!.toString().replace('/usr/', '/USR/'));
    assert.equal(cfg.length, config.size);
    writeFileSync(path(config.digest), cfg);
    for (const d of [a.desc.digest, target.digest, config.digest]) chmodSync(path(d), 0o444);

    const events: ProgressEvent[] = [];
    const again = await dst.registry.pull(ref, { platforms, onProgress: (e) => events.push(e) });
    assert.equal(again.bytesFetched, a.desc.size + config.size, 'layer a and the config fetched again');
    const statuses = (d: Digest) => events.filter((e) => e.id === d).map((e) => e.status);
    assert.ok(statuses(b.desc.digest).includes('exists'), 'the intact layer is reused');
    assert.ok(!statuses(a.desc.digest).includes('exists'), 'the truncated layer is not reused');
    for (const [d, bytes] of original) {
      assert.deepEqual(await dst.content.readBytes(d, { verify: true }), bytes, `${d} whole again`);
      assert.equal(statSync(path(d)).mode & 0o777, 0o444);
    }
    assert.deepEqual(readdirSync(join(dst.root, 'content', 'ingest')), [], 'no ingestion left');
  });
});

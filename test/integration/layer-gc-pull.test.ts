/**
 * The layer GC beside a pull in progress, with brigd, overlay snapshots and docker-registry on
 * 127.0.0.1 (built daemon and CLI: `npm test` builds first). Image P (busybox + p1) is pulled
 * through a proxy that holds back p1's blob; local image A (busybox + a1) shares the base layer.
 * While the pull stands on the base (committed, p1 not yet arrived), `brig image rm A` removes
 * only a1: the base stays for the pull, which then completes without unpacking the base again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { removeImage } from '../../src/client/images.ts';
import { startDaemon } from '../support/daemon.ts';
import { brig, holdProxy, importLayout, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import {
  assertNoMounts,
  assertStorageMatchesRows,
  committed,
  layeredImage,
  ok,
  rows,
} from './layer-gc-support.ts';
import { apiPull } from './pull-support.ts';

const needs = requires({ root: true, linux: true, commands: ['docker-registry', 'umoci', 'conmon'] });

describe('the layer GC beside a pull', needs, () => {
  test('rm of an image sharing the base of a pull in progress leaves the base to the pull', async (t) => {
    const a = layeredImage(t, ['a1']);
    const p = layeredImage(t, ['p1']);
    const base = a.chain[0]!;
    const heldBlob = p.manifest.layers[1]!.digest;
    const baseBlob = p.manifest.layers[0]!.digest;

    const reg = await startRegistry(t);
    const proxy = await holdProxy(t, reg.port, [heldBlob]);
    const src = brig(t, { insecure: [reg.host] });
    await src.registry.push(`${reg.host}/u/p:1`, await importLayout(src.content, p.layout));

    const d = await startDaemon(t, {
      config: { storage: { driver: 'overlay' }, registries: { insecure: [proxy.host] } },
    });
    await ok(d, ['image', 'import', a.layout, 'a:1']);
    assert.equal(await ok(d, ['run', '--rm', 'a:1', '/bin/cat', '/a1']), 'layer a1\n');
    assert.deepEqual(committed(d), [...a.chain].sort());
    const baseRow = rows(d).find((r) => r.key === base);

    let removedDuringPull = -1;
    const { result } = await apiPull(d, { reference: `${proxy.host}/u/p:1` }, async (pr) => {
      if (pr.id === baseBlob && pr.status === 'unpacked' && removedDuringPull < 0) {
        assert.equal(proxy.sent(heldBlob), false, 'p1 is still held back');
        removedDuringPull = (await removeImage(d.client, 'a:1')).layersRemoved;
        assert.deepEqual(committed(d), [base], 'a1 went, the base the pull stands on stayed');
        proxy.release(heldBlob);
      }
    });
    assert.equal(removedDuringPull, 1);
    assert.equal(result.chainId, p.chain[1]);
    assert.deepEqual(committed(d), [...p.chain].sort());
    assert.deepEqual(
      rows(d).find((r) => r.key === base),
      baseRow,
      'the base was not unpacked again',
    );
    assert.equal(await ok(d, ['run', '--rm', `${proxy.host}/u/p:1`, '/bin/cat', '/p1']), 'layer p1\n');

    const gone = await removeImage(d.client, `${proxy.host}/u/p:1`);
    assert.equal(gone.layersRemoved, 2);
    assert.deepEqual(rows(d), []);
    assertStorageMatchesRows(d);
    assertNoMounts(d);
  });
});

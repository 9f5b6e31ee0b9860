/**
 * unpackLayers as a pull drives it (layers become `ready` one by one) and UnpackSession's undo:
 * it removes only what its own session committed, never a layer another session stands on or
 * finished with.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { imageOf, lineApplier, nativeEnv, snapshotNames, textLayer } from '../../test/support/snapshots.ts';
import { LocalContentStore } from '../content/local-store.ts';
import type { Digest } from '../content/store.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { chainIds, UnpackSession, unpackLayers } from './unpack.ts';

const _sha = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function setup(t: TestContext) {
  const { dir, db, s } = nativeEnv(t, 'brig-unpack-session-');
  const content = new LocalContentStore(dir, db);
  const applied: string[] = [];
  return {
    s,
    content,
    layer: (text: string) => textLayer(content, text),
    image: imageOf,
    names: () => snapshotNames(s),
    applied,
    apply: lineApplier({ applied }),
  };
}

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

test('layer i is unpacked as soon as layers 0..i are ready, in order, reporting its state', async (t) => {
  const { s, content, layer, image, apply, names } = await setup(t);
  const img = image(await layer('a=1'), await layer('b=2'));
  const ids = chainIds(img.diffIds);
  const gates = [gate(), gate()];
  const states: string[] = [];
  const first = gate();
  const session = new UnpackSession(s);
  const done = unpackLayers(
    s,
    content,
    img,
    {
      apply,
      ready: (i) => gates[i]!.promise,
      onLayer: (i, state) => {
        states.push(`${i} ${state}`);
        if (i === 0 && state === 'unpacked') first.open();
      },
    },
    session,
  );
  gates[0]!.open();
  await first.promise;
  // layer 1 is not ready: only layer 0 is committed
  assert.deepEqual(await names(), [ids[0]]);
  gates[1]!.open();
  assert.equal(await done, ids[1]);
  session.finish();
  assert.deepEqual(states, ['0 extracting', '0 unpacked', '1 extracting', '1 unpacked']);
  assert.deepEqual(session.created, ids);
});

test('an aborted unpack starts no further layer', async (t) => {
  const { s, content, layer, image, apply, names, applied } = await setup(t);
  const img = image(await layer('a=1'), await layer('b=2'));
  const ac = new AbortController();
  const session = new UnpackSession(s);
  await assert.rejects(
    unpackLayers(
      s,
      content,
      img,
      {
        apply,
        signal: ac.signal,
        ready: async (i) => {
          if (i === 1) ac.abort(new BrigError('ERR_REGISTRY_UNAVAILABLE', 'download failed'));
        },
      },
      session,
    ),
    (e) => isBrigError(e, 'ERR_REGISTRY_UNAVAILABLE'),
  );
  assert.equal(applied.length, 1);
  assert.deepEqual(await session.undo(), [chainIds(img.diffIds)[0]]);
  assert.deepEqual(await names(), []);
});

test('undo leaves a layer another session stands on, and one a finished session used', async (t) => {
  const { s, content, layer, image, apply, names } = await setup(t);
  const base = await layer('base=1');
  const bad = await layer('FAIL');
  const other = await layer('o=1');
  const [baseId] = chainIds([base.diffId]);

  // A commits the base, B finds it and waits for its own second layer; A then fails
  const a = new UnpackSession(s);
  await unpackLayers(s, content, image(base), { apply }, a);
  const b = new UnpackSession(s);
  const bReady = gate();
  const bReached = gate();
  const bDone = unpackLayers(
    s,
    content,
    image(base, other),
    {
      apply,
      ready: async (i) => {
        if (i === 1) {
          bReached.open();
          await bReady.promise;
        }
      },
    },
    b,
  );
  await bReached.promise;
  await assert.rejects(unpackLayers(s, content, image(base, bad), { apply }, a), (e) =>
    isBrigError(e, 'ERR_LAYER_UNSAFE_PATH'),
  );
  assert.deepEqual(await a.undo(), []);
  assert.ok((await names()).includes(baseId!));
  bReady.open();
  await bDone;
  b.finish();

  // C commits a layer D then uses and finishes with; C's undo leaves it
  const c = new UnpackSession(s);
  const solo = await layer('solo=1');
  await unpackLayers(s, content, image(solo), { apply }, c);
  const d = new UnpackSession(s);
  await unpackLayers(s, content, image(solo), { apply }, d);
  d.finish();
  assert.deepEqual(await c.undo(), []);
  const [soloId] = chainIds([solo.diffId]);
  assert.ok((await names()).includes(soloId!));

  // alone, undo removes what the session committed, newest first
  const e = new UnpackSession(s);
  const x = await layer('x=1');
  const y = await layer('y=1');
  await unpackLayers(s, content, image(x, y), { apply }, e);
  const before = await names();
  const xy = chainIds([x.diffId, y.diffId]);
  assert.deepEqual(await e.undo(), [xy[1], xy[0]]);
  assert.deepEqual(
    await names(),
    before.filter((n) => !xy.includes(n as Digest)),
  );
});

/**
 * The layer GC (./gc.ts): which layers go (chain reference counting over the images still
 * needed), in which order (children before parents), what stays (a snapshot built on a layer, a
 * layer an unpack session holds, snapshots unpack did not make), failures (reported, the rest goes
 * on, tried again next time) and unpack's crash leftovers (temporaries).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { lineApplier, nativeEnv, snapshotNames, textLayer } from '../../test/support/snapshots.ts';
import { LocalContentStore } from '../content/local-store.ts';
import type { Digest } from '../content/store.ts';
import { BrigError } from '../errors/errors.ts';
import { neededChainIds, removeUnusedLayers } from './gc.ts';
import type { Snapshotter } from './snapshotter.ts';
import { CHAIN_LABEL, chainIds, prepareImageRootfs, UnpackSession, unpackLayers } from './unpack.ts';

const sha = (b: Buffer | string): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function setup(t: TestContext) {
  const env = nativeEnv(t, 'brig-gc-');
  return { ...env, names: (snap: Snapshotter = env.s) => snapshotNames(snap) };
}

/** A committed layer as unpack makes it (labelled with its chain id), holding `bytes` bytes. */
async function layer(s: Snapshotter, name: string, parent?: string, bytes = 10, labelled = true) {
  const mounts = await s.prepare(`tmp-${name}`, parent, { labels: labelled ? { [CHAIN_LABEL]: name } : {} });
  const dw = await s.directWrite(`tmp-${name}`);
  writeFileSync(join(dw?.root ?? mounts[0]!.source, `f-${name}`), Buffer.alloc(bytes));
  await s.commit(name, `tmp-${name}`);
}

test('removeUnusedLayers removes unneeded unpacked layers leaves first, keeps chains in use', async (t) => {
  const { s, names } = setup(t);
  // base <- a1 <- a2 (image A);  base <- b1 (image B);  base <- c1 <- container rootfs
  await layer(s, 'base');
  await layer(s, 'a1', 'base');
  await layer(s, 'a2', 'a1');
  await layer(s, 'b1', 'base');
  await layer(s, 'c1', 'base');
  await s.prepare('ctr-1', 'c1');
  await layer(s, 'build-step', 'base', 10, false); // not made by unpack: never touched
  // image A is gone; B stays; C is gone but its container still runs
  const r = await removeUnusedLayers(s, ['base', 'b1']);
  assert.deepEqual(r.removed, ['a2', 'a1']);
  assert.deepEqual(r.failed, []);
  assert.deepEqual(await names(), ['b1', 'base', 'build-step', 'c1', 'ctr-1']);
  // the container goes: its chain goes too, except what B and the build step use
  await s.remove('ctr-1');
  assert.deepEqual((await removeUnusedLayers(s, ['b1'])).removed, ['c1']);
  await s.remove('build-step');
  assert.deepEqual((await removeUnusedLayers(s, [])).removed, ['b1', 'base']);
  assert.deepEqual((await s.cleanup()).removed, []);
});

test('chain ids are counted over every image still needed: a shared base goes with its last image', async (t) => {
  const { s, names } = setup(t);
  const d = (x: string) => sha(`diff ${x}`);
  const imageA = [d('base'), d('a1'), d('a2')];
  const imageB = [d('base'), d('b1')];
  const [base, a1, a2] = chainIds(imageA);
  const [, b1] = chainIds(imageB);
  await layer(s, base!);
  await layer(s, a1!, base);
  await layer(s, a2!, a1);
  await layer(s, b1!, base);
  assert.deepEqual([...neededChainIds([imageA, imageB])].sort(), [base, a1, a2, b1].sort());
  // an image that shares only a diff id in another position shares no chain id
  assert.equal(neededChainIds([[d('a1')]]).has(a1!), false);

  assert.deepEqual((await removeUnusedLayers(s, neededChainIds([imageA, imageB]))).removed, []);
  const r = await removeUnusedLayers(s, neededChainIds([imageB]));
  assert.deepEqual(r.removed, [a2, a1], 'top of the chain first');
  assert.equal(r.bytes >= 20, true, `the two layers' files are measured (${r.bytes})`);
  assert.deepEqual(await names(), [b1, base].sort());
  const r2 = await removeUnusedLayers(s, neededChainIds([]));
  assert.deepEqual(r2.removed, [b1, base]);
  assert.deepEqual(await names(), []);
  assert.equal((await removeUnusedLayers(s, [], { measure: false })).bytes, 0);
});

test('a parent is removed only after all of its children, across several chains', async (t) => {
  const { s } = setup(t);
  // base <- m <- {x, y <- z};  base <- w
  await layer(s, 'base');
  await layer(s, 'm', 'base');
  await layer(s, 'x', 'm');
  await layer(s, 'y', 'm');
  await layer(s, 'z', 'y');
  await layer(s, 'w', 'base');
  const order = (await removeUnusedLayers(s, [])).removed;
  assert.equal(order.length, 6);
  const parentOf: Record<string, string> = { m: 'base', x: 'm', y: 'm', z: 'y', w: 'base' };
  for (const [child, parent] of Object.entries(parentOf)) {
    assert.ok(order.indexOf(child) < order.indexOf(parent), `${child} before ${parent}: ${order.join(' ')}`);
  }
});

/** Content with fake text layers and an applier that writes their `name=content` lines and may wait. */
async function unpackEnv(t: TestContext) {
  const env = setup(t);
  const content = new LocalContentStore(env.dir, env.db);
  const gates = new Map<string, Promise<void>>();
  return {
    ...env,
    content,
    blob: (text: string) => textLayer(content, text),
    gates,
    apply: lineApplier({ gates }),
  };
}

test('a layer an unpack session holds stays (and so does its chain) until the session ends', async (t) => {
  const { s, content, blob, gates, apply, names } = await unpackEnv(t);
  const l0 = await blob('base=0');
  const l1 = await blob('top=1');
  const [c0, c1] = chainIds([l0.diffId, l1.diffId]);
  // the base is unpacked by an image since removed: nothing keeps it but the session below
  await prepareImageRootfs(s, content, { layers: [l0.desc], diffIds: [l0.diffId] }, 'ctr-old', { apply });
  await s.remove('ctr-old');
  let open!: () => void;
  gates.set(
    l1.diffId,
    new Promise<void>((r) => {
      open = r;
    }),
  );
  const session = new UnpackSession(s);
  const unpacking = unpackLayers(
    s,
    content,
    { layers: [l0.desc, l1.desc], diffIds: [l0.diffId, l1.diffId] },
    { apply },
    session,
  );
  // wait until the session stands on c0 and applies l1 (its temporary snapshot exists)
  for (let i = 0; i < 1000 && !(await names()).some((n) => n.startsWith('unpack-')); i++)
    await new Promise((r) => setTimeout(r, 5));
  const during = await removeUnusedLayers(s, []);
  assert.deepEqual(during.removed, []);
  open();
  assert.equal(await unpacking, c1);
  // still held until the session ends (a pull records its image after finishing)
  assert.deepEqual((await removeUnusedLayers(s, [])).held, [c1]);
  assert.deepEqual((await removeUnusedLayers(s, [c0!, c1!])).removed, []);
  session.finish();
  const after = await removeUnusedLayers(s, []);
  assert.deepEqual(after.removed, [c1, c0]);
  assert.deepEqual(await names(), []);
});

test('the GC waits for the chain id lock: an unpack that found its layer committed keeps it', async (t) => {
  const { s, content, blob, apply, names } = await unpackEnv(t);
  const l0 = await blob('base=0');
  const [c0] = chainIds([l0.diffId]);
  await prepareImageRootfs(s, content, { layers: [l0.desc], diffIds: [l0.diffId] }, 'ctr-a', { apply });
  await s.remove('ctr-a');
  // a container start and a GC at the same moment: either the GC removes c0 first (and the
  // start unpacks it again) or the start holds it first; never a start on a missing parent
  const [gc, mounts] = await Promise.all([
    removeUnusedLayers(s, []),
    prepareImageRootfs(s, content, { layers: [l0.desc], diffIds: [l0.diffId] }, 'ctr-b', { apply }),
  ]);
  assert.ok(mounts.length > 0);
  assert.deepEqual(await names(), [c0, 'ctr-b'].sort());
  assert.ok(gc.removed.length <= 1);
});

test('a failed removal is reported, the others go on, and the next GC tries it again', async (t) => {
  const { s, names } = setup(t);
  await layer(s, 'base');
  await layer(s, 'a1', 'base');
  await layer(s, 'b1', 'base');
  let refuse = true;
  const flaky: Snapshotter = {
    driver: s.driver,
    prepare: (k, p, o) => s.prepare(k, p, o),
    view: (k, p, o) => s.view(k, p, o),
    mounts: (k) => s.mounts(k),
    commit: (n, k, o) => s.commit(n, k, o),
    remove: async (key) => {
      if (refuse && key === 'a1') throw new BrigError('ERR_INTERNAL', 'disk on fire');
      return s.remove(key);
    },
    stat: (k) => s.stat(k),
    walk: (fn) => s.walk(fn),
    usage: (k) => s.usage(k),
    directWrite: (k) => s.directWrite(k),
    cleanup: () => s.cleanup(),
  };
  const r = await removeUnusedLayers(flaky, []);
  assert.deepEqual(r.removed, ['b1']);
  assert.deepEqual(
    r.failed.map((f) => [f.name, f.code]),
    [['a1', 'ERR_INTERNAL']],
  );
  assert.deepEqual(await names(), ['a1', 'base'], 'the record is consistent: a1 still listed, base below it');
  refuse = false;
  assert.deepEqual((await removeUnusedLayers(flaky, [])).removed, ['a1', 'base']);
  assert.deepEqual(await names(), []);
});

test('temporaries: unpack snapshots left by a crash go only when asked (brigd start)', async (t) => {
  const { s, names } = setup(t);
  await layer(s, 'base');
  await s.prepare('unpack-1234', 'base', { labels: { [CHAIN_LABEL]: 'sha256:next' } });
  await s.prepare('ctr-x', undefined, { labels: { 'brig.container': 'x' } });
  assert.deepEqual((await removeUnusedLayers(s, [])).removed, []);
  const r = await removeUnusedLayers(s, [], { temporaries: true });
  assert.deepEqual(r.removed, ['unpack-1234', 'base']);
  assert.deepEqual(await names(), ['ctr-x'], 'an active snapshot unpack did not make stays');
});

/**
 * Pull unpacks layers as they arrive on the simulated FreeBSD host (docs/registries.md, "Pull";
 * docs/freebsd.md): the built brigd with `--platform freebsd-simulated`, docker-registry on
 * 127.0.0.1 serving an index with a linux/amd64 and a freebsd/amd64 entry (linux listed first):
 *   - zfs: the host picks the freebsd entry; after `brig pull` each layer is a dataset of the
 *     simulated host with its `@committed` snapshot, the second a clone of the first's snapshot;
 *     `brig run --dry-run` plans one `zfs clone` of the top layer and nothing else of zfs, and a
 *     run clones it without a new layer dataset or snapshot; `brig image rm` destroys them all;
 *   - zfs: layer 0's dataset and snapshot exist while a proxy still holds back the top layer;
 *   - zfs: brigd killed mid-pull leaves rows and datasets agreeing, and (its lease dropped at the
 *     restart) nothing of that pull; the next pull completes;
 *   - zfs: two pulls sharing a base make its dataset once;
 *   - zfs: `--no-unpack` creates no dataset; a hostile layer fails the pull with its code and
 *     leaves the simulated host's state (and its dataset directories) exactly as before;
 *   - native (nullfs): the same, with the layers as directories and the container's root a
 *     nullfs mount of its copy.
 * Needs `npm run build` (dist/) and docker-registry; passes as root and (checked by hand) as a
 * non-root user, whose brigd applies layers without chown.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { Descriptor } from '../../src/content/store.ts';
import type { DatasetState, HostState } from '../../src/platform/fake/host-state.ts';
import { chainIds } from '../../src/snapshots/unpack.ts';
import { startDaemon, type TestDaemon } from '../support/daemon.ts';
import { type Brig, brig, holdProxy, startRegistry, storeIndex } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import {
  apiPull,
  assertCommittedChain,
  assertUnsafeLayer,
  hostileLayer,
  type Layer,
  layerOf,
  ownSnapshot,
  pullsSharingBase,
  type SnapshotRow,
  snapshotRows,
  storeImage,
} from './pull-support.ts';

const needs = requires({ commands: ['docker-registry'] });

/** A FreeBSD-looking base: /bin/sh (ocijail checks that args[0] exists), /etc/passwd. */
const base = () =>
  layerOf([
    { name: 'bin/', type: 'dir' },
    { name: 'bin/sh', data: '#!fake\n', mode: 0o755 },
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', data: 'root:*:0:0::/root:/bin/sh\n' },
  ]);
const hello = () => layerOf([{ name: 'hello', data: 'hello from the freebsd layer\n' }]);
const linuxOnly = () => layerOf([{ name: 'linux', data: 'the linux entry\n' }]);

/** Stores a manifest of `layers` for `os`/amd64 in src's content store; returns its descriptor. */
async function storeManifest(src: Brig, os: string, layers: Layer[]): Promise<Descriptor> {
  return { ...(await storeImage(src.content, layers, os)), platform: { os, architecture: 'amd64' } };
}

/** Pushes `ref` as an index: linux/amd64 (another layer) first, then freebsd/amd64 of `layers`. */
async function pushIndex(src: Brig, ref: string, layers: Layer[]): Promise<void> {
  const linux = await storeManifest(src, 'linux', [linuxOnly()]);
  const freebsd = await storeManifest(src, 'freebsd', layers);
  await src.registry.push(ref, await storeIndex(src.content, [linux, freebsd]));
}

/** The simulated host's persisted state (without the allocation counters). */
function hostState(d: TestDaemon): Omit<HostState, 'counters'> {
  const { counters: _, ...rest } = JSON.parse(
    readFileSync(join(d.root, 'freebsd-simulated', 'host.json'), 'utf8'),
  ) as HostState;
  return rest;
}

/** Datasets below zroot/brig, name -> [type, origin, readonly]. */
function brigDatasets(d: TestDaemon): Record<string, [string, string | null, string | null]> {
  const out: Record<string, [string, string | null, string | null]> = {};
  for (const [name, ds] of Object.entries(hostState(d).datasets) as [string, DatasetState][]) {
    if (!name.startsWith('zroot/brig/')) continue;
    out[name] = [ds.type, ds.origin ?? null, ds.props.readonly ?? null];
  }
  return out;
}

const dsOf = (r: SnapshotRow) => `zroot/brig/${(JSON.parse(r.info) as { id: number }).id}`;

async function setup(t: TestContext, opts: { storage?: 'native'; hold?: string } = {}) {
  const reg = await startRegistry(t);
  const src = brig(t, { insecure: [reg.host] });
  const proxy = opts.hold ? await holdProxy(t, reg.port, [opts.hold]) : undefined;
  const pullHost = proxy?.host ?? reg.host;
  const d = await startDaemon(t, {
    platform: 'freebsd-simulated',
    config: {
      registries: { insecure: [pullHost] },
      ...(opts.storage ? { storage: { driver: opts.storage } } : {}),
    },
  });
  const ok = async (args: string[]) => {
    const r = await d.brig(args);
    assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  return { reg, src, d, ok, proxy, pullHost };
}

describe('pull on the simulated FreeBSD host', needs, () => {
  test('zfs: the freebsd entry is unpacked as datasets and snapshots; run reuses them; image rm destroys them', async (t) => {
    const { reg, src, d, ok } = await setup(t);
    const layers = [base(), hello()];
    const name = `${reg.host}/fbsd/two:1`;
    await pushIndex(src, name, layers);
    const before = brigDatasets(d);
    assert.deepEqual(before, {});

    const pulled = await ok(['pull', name]);
    assert.match(pulled.stderr, new RegExp(`${layers[1]!.desc.digest.slice(7, 19)}: Pull complete`));
    const inspect = JSON.parse((await ok(['image', 'inspect', name])).stdout) as unknown;
    assert.match(JSON.stringify(inspect), /"os":"freebsd"/);

    // the chain, committed: rows named by chain id, each a dataset with its @committed snapshot
    const chain = chainIds(layers.map((l) => l.diffId));
    const rows = snapshotRows(d);
    assertCommittedChain(rows, chain);
    const byKey = new Map(rows.map((r) => [r.key, r]));
    const l0 = dsOf(byKey.get(chain[0]!)!);
    const l1 = dsOf(byKey.get(chain[1]!)!);
    assert.deepEqual(brigDatasets(d), {
      [l0]: ['filesystem', null, 'on'],
      [`${l0}@committed`]: ['snapshot', null, null],
      [l1]: ['filesystem', `${l0}@committed`, 'on'],
      [`${l1}@committed`]: ['snapshot', null, null],
    });
    // the top layer's dataset holds the whole tree (the clone started from layer 0's snapshot)
    const mp1 = (JSON.parse(byKey.get(chain[1]!)!.info) as { mountpoint: string }).mountpoint;
    assert.equal(readFileSync(join(mp1, 'hello'), 'utf8'), 'hello from the freebsd layer\n');
    assert.equal(readFileSync(join(mp1, 'bin', 'sh'), 'utf8'), '#!fake\n');
    assert.equal(existsSync(join(mp1, 'linux')), false, 'the linux entry was not pulled');

    // a dry run plans a clone of the top layer, and no other zfs command that writes
    const hostBefore = readFileSync(join(d.root, 'freebsd-simulated', 'host.json'), 'utf8');
    const plan = (await ok(['run', '--dry-run', name, '/bin/sh', '-c', 'serve'])).stdout;
    const zfs = plan.split('\n').filter((l) => /^zfs (create|clone|snapshot|destroy|set) /.test(l));
    assert.equal(zfs.length, 1, plan);
    assert.match(
      zfs[0]!,
      new RegExp(`^zfs clone -o brig:root=[0-9a-f-]{36} ${l1}@committed zroot/brig/\\d+$`),
    );
    assert.equal(readFileSync(join(d.root, 'freebsd-simulated', 'host.json'), 'utf8'), hostBefore);
    assert.deepEqual(snapshotRows(d), rows);

    // a run on the simulated host: one clone of the top layer; the layers are the same rows
    const id = (await ok(['run', '-d', '--name', 'web', name, '/bin/sh', '-c', 'serve'])).stdout.trim();
    const own = ownSnapshot(d, rows, chain[1]);
    const ctr = dsOf(own);
    assert.deepEqual(brigDatasets(d), {
      [l0]: ['filesystem', null, 'on'],
      [`${l0}@committed`]: ['snapshot', null, null],
      [l1]: ['filesystem', `${l0}@committed`, 'on'],
      [`${l1}@committed`]: ['snapshot', null, null],
      [ctr]: ['filesystem', `${l1}@committed`, null],
    });
    assert.ok(Object.values(hostState(d).jails).some((j) => j.name === id));
    await ok(['rm', '-f', 'web']);
    assert.deepEqual(snapshotRows(d), rows);

    // image rm: the layer GC destroys both layers (top first: a snapshot with clones cannot go)
    const rm = await d.client.request<{ layersRemoved: number; bytesReclaimed: number }>(
      'DELETE',
      `/images/${encodeURIComponent(name)}`,
    );
    assert.equal(rm.layersRemoved, 2);
    assert.ok(rm.bytesReclaimed > 0);
    assert.deepEqual(snapshotRows(d), []);
    assert.deepEqual(brigDatasets(d), {});
    assert.deepEqual(readdirSync(join(d.root, 'zfs')), []);
    assert.deepEqual(readdirSync(join(d.root, 'freebsd-simulated', 'zfs-content')), []);
  });

  test('zfs: layer 0 is a committed dataset while the top layer is still held back by the registry', async (t) => {
    const layers = [base(), hello()];
    const held = layers[1]!.desc.digest;
    const { reg, src, d, proxy, pullHost } = await setup(t, { hold: held });
    await pushIndex(src, `${reg.host}/fbsd/two:1`, layers);
    const chain = chainIds(layers.map((l) => l.diffId));

    let sawFirst = false;
    const { result } = await apiPull(d, { reference: `${pullHost}/fbsd/two:1` }, (p) => {
      if (p.id !== layers[0]!.desc.digest || p.status !== 'unpacked') return;
      sawFirst = true;
      assert.equal(proxy!.sent(held), false, 'the top layer has not been sent yet');
      const rows = snapshotRows(d);
      assert.deepEqual(
        rows.map((r) => [r.key, r.kind]),
        [[chain[0], 'committed']],
      );
      const l0 = dsOf(rows[0]!);
      assert.deepEqual(brigDatasets(d), {
        [l0]: ['filesystem', null, 'on'],
        [`${l0}@committed`]: ['snapshot', null, null],
      });
      proxy!.release(held);
    });
    assert.ok(sawFirst);
    assert.equal(result.platform, 'freebsd/amd64');
    assert.equal(result.chainId, chain[1]);
    assert.equal(Object.keys(brigDatasets(d)).length, 4);
  });

  test('zfs: brigd killed mid-pull: every dataset has its row after the restart, the killed pull leaves nothing, the next pull completes', async (t) => {
    const layers = [base(), hello()];
    const held = layers[1]!.desc.digest;
    const { reg, src, d, proxy, pullHost } = await setup(t, { hold: held });
    await pushIndex(src, `${reg.host}/fbsd/two:1`, layers);
    const chain = chainIds(layers.map((l) => l.diffId));
    const ref = `${pullHost}/fbsd/two:1`;

    const killed = apiPull(d, { reference: ref }, async (p) => {
      if (p.id === layers[0]!.desc.digest && p.status === 'unpacked') await d.stop('SIGKILL');
    });
    await assert.rejects(killed);
    await d.restart();
    // the datasets below zroot/brig and the rows name each other (cleanup and the layer sweep ran)
    const rows = snapshotRows(d);
    const named = new Set(rows.map(dsOf));
    for (const [ds, [type]] of Object.entries(brigDatasets(d)))
      if (type === 'filesystem') assert.ok(named.has(ds), `${ds} has a row`);
    for (const r of rows) assert.ok(brigDatasets(d)[dsOf(r)], `${r.key}'s dataset exists`);
    // brigd's start drops the leases of pulls that were in flight (docs/architecture.md,
    // 'Start-up clean-up'): nothing holds layer 0 any more, so the layer GC removed it
    assert.deepEqual(rows, []);

    proxy!.release(held);
    const { progress, result } = await apiPull(d, { reference: ref });
    assert.equal(result.chainId, chain[1]);
    assert.ok(progress.some((p) => p.id === layers[0]!.desc.digest && p.status === 'extracting'));
    assert.deepEqual(
      snapshotRows(d)
        .map((r) => `${r.key} ${r.kind}`)
        .sort(),
      [`${chain[0]} committed`, `${chain[1]} committed`].sort(),
    );
    assert.equal(Object.keys(brigDatasets(d)).length, 4);
  });

  test('zfs: concurrent pulls sharing a base layer make its dataset once', async (t) => {
    const { reg, src, d } = await setup(t);
    const b = base();
    const x = layerOf([{ name: 'x', data: 'x' }]);
    const y = layerOf([{ name: 'y', data: 'y' }]);
    await pushIndex(src, `${reg.host}/fbsd/x:1`, [b, x]);
    await pushIndex(src, `${reg.host}/fbsd/y:1`, [b, y]);
    await pullsSharingBase(d, [`${reg.host}/fbsd/x:1`, `${reg.host}/fbsd/y:1`], b);
    const cx = chainIds([b.diffId, x.diffId]);
    const cy = chainIds([b.diffId, y.diffId]);
    const rows = new Map(snapshotRows(d).map((r) => [r.key, r]));
    assert.deepEqual([...rows.keys()].sort(), [cx[0], cx[1], cy[1]].sort());
    const l0 = dsOf(rows.get(cx[0]!)!);
    assert.deepEqual(brigDatasets(d), {
      [l0]: ['filesystem', null, 'on'],
      [`${l0}@committed`]: ['snapshot', null, null],
      [dsOf(rows.get(cx[1]!)!)]: ['filesystem', `${l0}@committed`, 'on'],
      [`${dsOf(rows.get(cx[1]!)!)}@committed`]: ['snapshot', null, null],
      [dsOf(rows.get(cy[1]!)!)]: ['filesystem', `${l0}@committed`, 'on'],
      [`${dsOf(rows.get(cy[1]!)!)}@committed`]: ['snapshot', null, null],
    });
  });

  test('zfs: --no-unpack creates no dataset; the first run unpacks', async (t) => {
    const { reg, src, d, ok } = await setup(t);
    const layers = [base(), hello()];
    const name = `${reg.host}/fbsd/two:1`;
    await pushIndex(src, name, layers);
    const start = hostState(d);

    const r = await ok(['pull', '--no-unpack', name]);
    assert.doesNotMatch(r.stderr, /Extracting|Pull complete/);
    assert.deepEqual(snapshotRows(d), []);
    assert.deepEqual(hostState(d), start);
    const api = await apiPull(d, { reference: name, unpack: false });
    assert.equal(api.result.unpacked, false);
    assert.equal(api.result.platform, 'freebsd/amd64');
    assert.deepEqual(hostState(d), start);

    await ok(['run', '-d', '--name', 'web', name, '/bin/sh']);
    assert.deepEqual(
      snapshotRows(d)
        .filter((s) => s.kind === 'committed')
        .map((s) => s.key),
      chainIds(layers.map((l) => l.diffId)).sort(),
    );
    await ok(['rm', '-f', 'web']);
  });

  test('zfs: a hostile layer fails the pull with its code and leaves the host as it was', async (t) => {
    const { reg, src, d } = await setup(t);
    const hostile = hostileLayer();
    const name = `${reg.host}/fbsd/hostile:1`;
    await pushIndex(src, name, [base(), hostile]);
    const start = hostState(d);

    await assertUnsafeLayer(apiPull(d, { reference: name }));
    // the base layer this pull committed (a dataset and its snapshot) was destroyed again
    assert.deepEqual(hostState(d), start);
    assert.deepEqual(snapshotRows(d), []);
    assert.deepEqual(readdirSync(join(d.root, 'zfs')), []);
    assert.deepEqual(readdirSync(join(d.root, 'freebsd-simulated', 'zfs-content')), []);
    assert.deepEqual(JSON.parse((await d.brig(['images', '--json'])).stdout), []);

    const cli = await d.brig(['pull', name]);
    assert.equal(cli.code, 125);
    assert.deepEqual(hostState(d), start);
  });

  test('native (nullfs): layers are directories, run mounts its copy with nullfs, image rm removes them', async (t) => {
    const { reg, src, d, ok } = await setup(t, { storage: 'native' });
    const layers = [base(), hello()];
    const name = `${reg.host}/fbsd/two:1`;
    await pushIndex(src, name, layers);
    const start = hostState(d);
    const snapDir = join(d.root, 'snapshots', 'native', 'snapshots');
    const dirs = () => (existsSync(snapDir) ? readdirSync(snapDir).sort() : []);

    // hostile on top of a new base: the base this pull committed goes again (row and directory)
    const hostile = layerOf([{ name: '../sentinel/pwned', data: 'x' }]);
    await pushIndex(src, `${reg.host}/fbsd/hostile:1`, [base(), hostile]);
    await assertUnsafeLayer(apiPull(d, { reference: `${reg.host}/fbsd/hostile:1` }));
    assert.deepEqual(snapshotRows(d), []);
    assert.deepEqual(dirs(), []);
    assert.deepEqual(hostState(d), start);

    const { result } = await apiPull(d, { reference: name });
    assert.equal(result.platform, 'freebsd/amd64');
    const chain = chainIds(layers.map((l) => l.diffId));
    assert.equal(result.chainId, chain[1]);
    const rows = snapshotRows(d);
    assertCommittedChain(rows, chain);
    const top = (JSON.parse(rows.find((r) => r.key === chain[1])!.info) as { id: number }).id;
    assert.equal(
      readFileSync(join(snapDir, String(top), 'fs', 'hello'), 'utf8'),
      'hello from the freebsd layer\n',
    );
    assert.ok(existsSync(join(snapDir, String(top), 'fs', 'bin', 'sh')));
    // the simulated host saw nothing: no dataset, no mount
    assert.deepEqual(hostState(d), start);

    // hostile above the pulled chain: the shared layers stay, nothing else is left
    await pushIndex(src, `${reg.host}/fbsd/hostile:2`, [base(), hello(), hostile]);
    const dirsBefore = dirs();
    await assertUnsafeLayer(apiPull(d, { reference: `${reg.host}/fbsd/hostile:2` }));
    assert.deepEqual(snapshotRows(d), rows);
    assert.deepEqual(dirs(), dirsBefore);
    assert.deepEqual(hostState(d), start);

    // run: the container's copy is nullfs-mounted on the simulated host; the layers are reused
    const id = (await ok(['run', '-d', '--name', 'web', name, '/bin/sh'])).stdout.trim();
    const own = ownSnapshot(d, rows, chain[1]);
    const ownDir = join(snapDir, String((JSON.parse(own.info) as { id: number }).id), 'fs');
    assert.ok(
      hostState(d).mounts.some(
        (m) => m.fstype === 'nullfs' && m.source === ownDir && m.target.endsWith(`${id}/rootfs`),
      ),
      JSON.stringify(hostState(d).mounts),
    );
    await ok(['rm', '-f', 'web']);

    await ok(['image', 'rm', name]);
    assert.deepEqual(snapshotRows(d), []);
    assert.deepEqual(dirs(), []);
    assert.deepEqual(hostState(d), start);
  });
});

/**
 * Unpacking an image's layers into committed snapshots, and preparing a container's rootfs.
 *
 * Each layer Ln becomes the committed snapshot named by its chain id (OCI image-spec, config.md):
 *   ChainID(L0) = DiffID(L0)
 *   ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))
 * so two images sharing a base share its snapshots, and a layer is unpacked once per host.
 *
 * `prepareImageRootfs(snapshotter, content, image, key, opts?)`:
 *   for each layer: reuse the committed snapshot `chainId` if it exists; otherwise prepare a
 *   unique temporary key on the parent chain, apply the blob from the content store into it
 *   (through `directWrite` when the snapshotter offers it, else through a mount), checking the
 *   blob's digest and the diff id, and commit it as `chainId`;
 *   then prepare the active snapshot `key` on the top chain id and return its mounts.
 * Concurrency: within one process, unpacks of the same chain id are serialised (the second one
 * finds it committed); across processes, a commit that loses the race (ERR_SNAPSHOT_EXISTS)
 * drops its own copy and uses the winner's.
 * Failure anywhere removes what this call created (temporary keys, layers it committed, when no
 * one else has built on them meanwhile) and rethrows.
 *
 * `UnpackSession`: the bookkeeping of one unpack (a container's first run, or a pull that unpacks
 * as layers arrive: src/registry/pull.ts). It records the layers the unpack committed and holds
 * every chain id it has reached until it ends, so that another session's `undo()` never removes
 * a layer this one stands on (between finding a chain id committed and preparing the next layer
 * on it, nothing else protects it). `finish()` ends it successfully: the chain ids it used are
 * then never removed by another session's undo in this process (an image may now be recorded on
 * them); `undo()` ends it in failure, removing, newest first, the layers it committed that no
 * other session holds or finished with and that nothing has been built on. The layer GC (./gc.ts)
 * removes a layer only through `removeLayerUnlessHeld`: under the same chain id lock, and never
 * one a running session holds.
 *
 * `UnpackOptions.ready(i)` lets layer i wait until its blob is stored (a pull calls unpackLayers
 * before the downloads end); `onLayer` reports 'extracting' when a layer is applied and
 * 'unpacked' once its chain id is committed (made or found).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { sha256 } from '../content/digest.ts';
import type { ContentStore, Descriptor, Digest } from '../content/store.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { applyLayer } from '../layers/index.ts';
import { mountAll, unmountAll } from './mount.ts';
import type { Mount, SnapshotOptions, Snapshotter } from './snapshotter.ts';

export interface ImageLayers {
  layers: Descriptor[];
  diffIds: string[];
}

export interface ApplyOptions {
  root: string;
  compression: 'none' | 'gzip' | 'zstd' | 'auto';
  expectedDigest?: string;
  expectedDiffId?: string;
  unprivileged?: boolean;
  whiteouts?: 'delete' | 'overlay';
}

/** The layer applier: src/layers' applyLayer by default; tests may inject another. */
export type LayerApplier = (source: Readable, opts: ApplyOptions) => Promise<unknown>;

export interface UnpackOptions {
  /** Default: applyLayer of src/layers. */
  apply?: LayerApplier;
  /** Labels of the container's active snapshot. */
  labels?: Record<string, string>;
  unprivileged?: boolean;
  /** Where to mount a layer when the snapshotter has no directWrite (default: os.tmpdir()). */
  scratch?: string;
  /**
   * false: always apply through a mount of the temporary snapshot, never through directWrite.
   * Slower (a mount per layer, root only) but lets the kernel resolve parents that a layer does
   * not list (their owner and mode, a symlinked parent) from the lower layers.
   */
  direct?: boolean;
  /** Resolves once layer `index`'s blob is in the content store; awaited before it is unpacked. */
  ready?: (index: number) => Promise<void>;
  /** Per-layer state: 'extracting' (being applied), 'unpacked' (its chain id is committed). */
  onLayer?: (index: number, state: 'extracting' | 'unpacked', chainId: string) => void;
  /** Aborted: no further layer is started (the one being applied finishes or fails first). */
  signal?: AbortSignal;
}

export const CHAIN_LABEL = 'brig.chainid';

export function chainIds(diffIds: readonly string[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? (d as Digest) : sha256(`${prev} ${d}`));
  }
  return out;
}

const locks = new Map<string, Promise<unknown>>();
/**
 * Per snapshotter (one instance per driver and root): chain ids reached by sessions still running,
 * with their count, and chain ids used by a session that finished (another session's undo leaves
 * those).
 */
const usage = new WeakMap<Snapshotter, { held: Map<string, number>; settled: Set<string> }>();

function usageOf(s: Snapshotter): { held: Map<string, number>; settled: Set<string> } {
  let u = usage.get(s);
  if (!u) {
    u = { held: new Map(), settled: new Set() };
    usage.set(s, u);
  }
  return u;
}

export class UnpackSession {
  /** Layers this session committed, in order. */
  readonly created: string[] = [];
  readonly #held: string[] = [];
  #ended = false;

  constructor(readonly snapshotter: Snapshotter) {}

  /** This session committed `chainId` (made afresh: whoever finished with an earlier one lost it). */
  committed(chainId: string): void {
    this.created.push(chainId);
    usageOf(this.snapshotter).settled.delete(chainId);
  }

  /** This session stands on `chainId` until it ends. */
  hold(chainId: string): void {
    const { held } = usageOf(this.snapshotter);
    this.#held.push(chainId);
    held.set(chainId, (held.get(chainId) ?? 0) + 1);
  }

  #release(): void {
    this.#ended = true;
    const { held } = usageOf(this.snapshotter);
    for (const k of this.#held) {
      const n = (held.get(k) ?? 1) - 1;
      if (n <= 0) held.delete(k);
      else held.set(k, n);
    }
  }

  /** Success: the chain stays, and other sessions' undo leaves it. */
  finish(): void {
    if (this.#ended) return;
    const { settled } = usageOf(this.snapshotter);
    for (const k of this.#held) settled.add(k);
    this.#release();
  }

  /** Failure: removes what this session committed and nobody else uses. Returns the removed names. */
  async undo(): Promise<string[]> {
    if (this.#ended) return [];
    this.#release();
    const { held, settled } = usageOf(this.snapshotter);
    const removed: string[] = [];
    for (const name of [...this.created].reverse()) {
      // under the chain id's lock: a session holds a chain id before it checks it, under the
      // same lock, so a layer it found committed is never removed behind its back
      await withLock(`${this.snapshotter.driver}\0${name}`, async () => {
        if (settled.has(name) || (held.get(name) ?? 0) > 0) return;
        try {
          await this.snapshotter.remove(name);
          removed.push(name);
        } catch {
          // ERR_SNAPSHOT_IN_USE: something was built on it meanwhile; it stays
        }
      });
    }
    return removed;
  }
}

/**
 * For the layer GC (./gc.ts): removes the committed layer `chainId` under its chain id's lock (the
 * one unpack takes), unless an unpack session in this process holds it ('held': left as it is).
 * The snapshotter's errors pass through (ERR_SNAPSHOT_IN_USE: something was built on it meanwhile).
 */
export function removeLayerUnlessHeld(
  snapshotter: Snapshotter,
  chainId: string,
): Promise<'removed' | 'held'> {
  return withLock(`${snapshotter.driver}\0${chainId}`, async () => {
    const u = usageOf(snapshotter);
    if ((u.held.get(chainId) ?? 0) > 0) return 'held';
    await snapshotter.remove(chainId);
    // gone: a finished session's claim on it ends with it
    u.settled.delete(chainId);
    return 'removed';
  });
}

/** Runs fn after every earlier holder of `name` finished (in this process). */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(name) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => {});
  locks.set(name, tail);
  try {
    return await run;
  } finally {
    if (locks.get(name) === tail) locks.delete(name);
  }
}

async function committedExists(s: Snapshotter, name: string): Promise<boolean> {
  try {
    const st = await s.stat(name);
    if (st.kind !== 'committed') {
      throw new BrigError(
        'ERR_SNAPSHOT_STATE',
        `snapshot ${name} exists but is ${st.kind}, not a committed layer`,
      );
    }
    return true;
  } catch (e) {
    if (isBrigError(e, 'ERR_SNAPSHOT_NOT_FOUND')) return false;
    throw e;
  }
}

/**
 * Unpacks every layer of `image` (reusing what exists); returns the top chain id (undefined: no
 * layers). What it commits is recorded in `session`, which the caller ends (finish or undo).
 */
export async function unpackLayers(
  snapshotter: Snapshotter,
  content: ContentStore,
  image: ImageLayers,
  opts: UnpackOptions = {},
  session: UnpackSession = new UnpackSession(snapshotter),
): Promise<string | undefined> {
  if (image.layers.length !== image.diffIds.length) {
    throw new BrigError(
      'ERR_IMAGE_INVALID',
      `the image has ${image.layers.length} layers but ${image.diffIds.length} diff ids`,
    );
  }
  const ids = chainIds(image.diffIds);
  let parent: string | undefined;
  for (let i = 0; i < ids.length; i++) {
    const chainId = ids[i]!;
    const layer = image.layers[i]!;
    const diffId = image.diffIds[i]!;
    const p = parent;
    if (opts.ready) await opts.ready(i);
    opts.signal?.throwIfAborted();
    await withLock(`${snapshotter.driver}\0${chainId}`, async () => {
      // held before the check: from here on no other session's undo removes it
      session.hold(chainId);
      if (await committedExists(snapshotter, chainId)) return;
      const tmp = `unpack-${randomUUID()}`;
      await snapshotter.prepare(tmp, p, { labels: { [CHAIN_LABEL]: chainId } });
      try {
        opts.onLayer?.(i, 'extracting', chainId);
        await applyInto(snapshotter, tmp, content, layer, diffId, opts);
        try {
          await snapshotter.commit(chainId, tmp);
          session.committed(chainId);
        } catch (e) {
          // another process committed the same layer first: use theirs
          if (!isBrigError(e, 'ERR_SNAPSHOT_EXISTS')) throw e;
          await snapshotter.remove(tmp);
        }
      } catch (e) {
        await snapshotter.remove(tmp).catch(() => {});
        throw e;
      }
    });
    opts.onLayer?.(i, 'unpacked', chainId);
    parent = chainId;
  }
  return parent;
}

async function applyInto(
  s: Snapshotter,
  key: string,
  content: ContentStore,
  layer: Descriptor,
  diffId: string,
  opts: UnpackOptions,
): Promise<void> {
  const common = {
    compression: 'auto' as const,
    expectedDigest: layer.digest,
    expectedDiffId: diffId,
    ...(opts.unprivileged !== undefined ? { unprivileged: opts.unprivileged } : {}),
  };
  const apply = opts.apply ?? applyLayer;
  const direct = opts.direct === false ? null : await s.directWrite(key);
  if (direct) {
    await apply(content.reader(layer.digest), {
      ...common,
      root: direct.root,
      whiteouts: direct.whiteouts,
    });
    return;
  }
  const mounts = await s.mounts(key);
  const target = await mkdtemp(join(opts.scratch ?? tmpdir(), 'brig-unpack-'));
  try {
    await mountAll(mounts, target);
    try {
      await apply(content.reader(layer.digest), { ...common, root: target, whiteouts: 'delete' });
    } finally {
      await unmountAll(mounts, target);
    }
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

/**
 * Unpacks the image (as needed) and prepares the container's active snapshot `key` on it.
 * Returns the mounts of `key`.
 */
export async function prepareImageRootfs(
  snapshotter: Snapshotter,
  content: ContentStore,
  image: ImageLayers,
  key: string,
  opts: UnpackOptions = {},
): Promise<Mount[]> {
  const session = new UnpackSession(snapshotter);
  try {
    const top = await unpackLayers(snapshotter, content, image, opts, session);
    const sopts: SnapshotOptions = opts.labels ? { labels: opts.labels } : {};
    const mounts = await snapshotter.prepare(key, top, sopts);
    session.finish();
    return mounts;
  } catch (e) {
    await session.undo();
    throw e;
  }
}

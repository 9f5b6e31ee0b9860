/**
 * Pull: reference -> manifest (or index -> the manifest for the wanted platform) -> config and
 * layers into the content store.
 *
 * Order of work and why:
 *   1. resolve the reference on the first endpoint that answers (mirrors first, then the registry);
 *   2. fetch the config and the layers the store lacks, `concurrency` at a time, each through a
 *      store writer that checks size and digest at commit (a wrong blob is never published); a
 *      stored blob of another size than its descriptor's is damaged and fetched again (reusable);
 *   3. with `unpack` (brigd's default), unpack the layers into the snapshotter AS THEY ARRIVE:
 *      once the config is stored (its download starts first: the diff ids are in it), layer i is unpacked
 *      as soon as layers 0..i are stored, while later layers still download (src/snapshots/
 *      unpack.ts's unpackLayers with `ready`, so chain ids, sharing and locking are the ones a
 *      container's first run uses; that run then finds the chain committed). A layer that fails
 *      to unpack fails the pull: downloads in flight are cancelled and the layers this pull
 *      committed that nothing else uses are removed (UnpackSession.undo);
 *   4. store the manifest last: a stored manifest never points at missing blobs. An index is not
 *      stored (brig records one platform's manifest per image: src/images/image-store.ts).
 * Everything written is added to `lease` (when given) so GC leaves it alone until the caller has
 * recorded the image.
 *
 * A download that breaks mid-blob continues from the bytes already written with a Range request
 * on the same writer; a new pull after a daemon restart resumes the ingestion left in the store
 * (`resume: true`). A registry that ignores Range (200 instead of 206) gets a fresh ingestion.
 */
import type { ContentStore, Descriptor, Digest, Writer } from '../content/store.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import {
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  isIndexMediaType,
  isManifestMediaType,
  type Platform,
  parseConfig,
  parseIndex,
  parseJson,
  parseManifest,
} from '../images/oci.ts';
import { formatPlatform, matchScore, normalizePlatform, selectPlatform } from '../images/platform.ts';
import { formatReference, type Reference as ImageReference } from '../images/reference.ts';
import type { Snapshotter } from '../snapshots/snapshotter.ts';
import { type LayerApplier, UnpackSession, unpackLayers } from '../snapshots/unpack.ts';
import type { ProgressFn } from './progress.ts';
import { descriptorOf, type FetchedManifest, RepositoryClient } from './repository.ts';
import { isNetworkError, type RegistryTransport } from './transport.ts';

export interface PullOptions {
  /** Acceptable platforms, most preferred first (the host's, or the one --platform names). */
  platforms: Platform[];
  /** The user named the platform: a single-platform image for another one is refused. */
  strictPlatform?: boolean;
  lease?: string;
  /** Blobs fetched at the same time (default 3). */
  concurrency?: number;
  onProgress?: ProgressFn;
  /** Unpack the layers into this snapshotter as they arrive (absent: blobs only). */
  unpack?: PullUnpack;
  /**
   * Cancels the pull (brigd: the client went away): downloads in flight stop, their ingestions
   * are dropped, the layers it unpacked are undone, and the promise rejects with the reason.
   */
  signal?: AbortSignal;
}

export interface PullUnpack {
  snapshotter: Snapshotter;
  /** Default: applyLayer of src/layers. */
  apply?: LayerApplier;
  unprivileged?: boolean;
}

export interface PullResult {
  /** Normalised reference that was pulled (`docker.io/library/busybox:latest`). */
  reference: string;
  /** What the tag (or digest) points at: an index or a manifest. */
  target: Descriptor;
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  platform: Platform;
  /** Bytes fetched over the network (blobs already present are not counted). */
  bytesFetched: number;
  /** Host the content came from (a mirror's host when one answered). */
  source: string;
  /** With `unpack`: the committed snapshot of the top layer (its chain id; null: no layers). */
  unpacked?: { chainId: string | null };
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject };
}

async function resolve(
  transport: RegistryTransport,
  ref: ImageReference,
): Promise<{ repo: RepositoryClient; fetched: FetchedManifest }> {
  const endpoints = transport.hosts.endpoints(ref.domain, 'pull');
  const reference = ref.digest ?? ref.tag ?? 'latest';
  let lastErr: unknown;
  for (const [i, ep] of endpoints.entries()) {
    const repo = new RepositoryClient(transport, ep, ref.path, false);
    try {
      const fetched = await repo.getManifest(reference);
      if (!fetched) throw new BrigError('ERR_REGISTRY_NOT_FOUND', `${formatReference(ref)}: not found`);
      return { repo, fetched };
    } catch (e) {
      lastErr = e;
      // a mirror that fails is skipped; the registry itself is the last word
      if (i === endpoints.length - 1 || isBrigError(e, 'ERR_CONTENT_DIGEST_MISMATCH')) throw e;
    }
  }
  throw lastErr;
}

export async function pull(
  transport: RegistryTransport,
  content: ContentStore,
  ref: ImageReference,
  opts: PullOptions,
): Promise<PullResult> {
  const progress = opts.onProgress ?? (() => {});
  const name = formatReference(ref);
  opts.signal?.throwIfAborted();
  progress({ id: name, kind: 'manifest', status: 'resolving' });
  const { repo, fetched } = await resolve(transport, ref);
  opts.signal?.throwIfAborted();
  const target = descriptorOf(fetched);

  let index: ImageIndex | undefined;
  let manifestFetched: FetchedManifest;
  if (isIndexMediaType(fetched.mediaType)) {
    index = parseIndex(parseJson(fetched.bytes, `index ${name}`), {
      what: `index ${name}`,
      mediaType: fetched.mediaType,
    });
    // the first wanted platform any entry matches wins; an entry without a platform is a last resort
    let chosen: Descriptor | undefined;
    for (const p of opts.platforms) {
      const d = selectPlatform(index.manifests, p);
      if (d?.platform) {
        chosen = d;
        break;
      }
      chosen ??= d;
    }
    if (chosen && !isManifestMediaType(chosen.mediaType)) {
      throw new BrigError(
        'ERR_IMAGE_MEDIA_TYPE',
        `${name}: nested indexes are not supported (${chosen.digest})`,
      );
    }
    if (!chosen) {
      const offered = index.manifests.flatMap((d) =>
        d.platform ? [formatPlatform(normalizePlatform(d.platform))] : [],
      );
      throw new BrigError(
        'ERR_IMAGE_PLATFORM',
        `${name} has no manifest for ${opts.platforms.map((p) => formatPlatform(normalizePlatform(p))).join(' or ')} (it offers ${offered.join(', ') || 'none'})`,
        { details: { reference: name, offered } },
      );
    }
    const m = await repo.getManifest(chosen.digest);
    if (!m) throw new BrigError('ERR_REGISTRY_NOT_FOUND', `${name}: manifest ${chosen.digest} is missing`);
    if (m.bytes.length !== chosen.size) {
      throw new BrigError(
        'ERR_CONTENT_SIZE_MISMATCH',
        `${name}: manifest ${chosen.digest} is ${m.bytes.length} bytes, the index says ${chosen.size}`,
      );
    }
    manifestFetched = { ...m, mediaType: chosen.mediaType };
  } else if (isManifestMediaType(fetched.mediaType)) {
    manifestFetched = fetched;
  } else {
    throw new BrigError(
      'ERR_IMAGE_MEDIA_TYPE',
      `${name} is a ${fetched.mediaType}, not an image manifest or index`,
      {
        hint: 'Docker schema 1 images and non-image artifacts cannot be pulled; rebuild or convert the image.',
      },
    );
  }
  const manifest: ImageManifest = parseManifest(parseJson(manifestFetched.bytes, `manifest ${name}`), {
    what: `manifest ${name}`,
    mediaType: manifestFetched.mediaType,
  });

  const blobs: { desc: Descriptor; kind: 'config' | 'layer'; index: number }[] = [
    { desc: manifest.config, kind: 'config', index: -1 },
    ...manifest.layers.map((desc, index) => ({ desc, kind: 'layer' as const, index })),
  ];
  for (const b of blobs)
    progress({ id: b.desc.digest, kind: b.kind, status: 'waiting', current: 0, total: b.desc.size });

  // The config is read as soon as it is stored: the platform is checked before any layer is
  // unpacked, and its diff ids name the snapshots.
  let config: ImageConfig | undefined;
  // Verified: the config is read whole anyway (a few KiB to hash), and nothing later checks what
  // this pull takes from it, while a reused copy may be damaged at the same size.
  const readConfig = async (): Promise<void> => {
    const bytes = await content.readBytes(manifest.config.digest, { verify: true });
    config = parseConfig(parseJson(bytes, `config of ${name}`), {
      what: `config of ${name}`,
    });
    const platform = platformOfConfig(config);
    if (opts.strictPlatform && !opts.platforms.some((p) => matchScore(p, platform) >= 0)) {
      throw new BrigError(
        'ERR_IMAGE_PLATFORM',
        `${name} is for ${formatPlatform(normalizePlatform(platform))}, not ${opts.platforms.map((p) => formatPlatform(normalizePlatform(p))).join(' or ')}`,
      );
    }
  };

  const abort = new AbortController();
  const configStored = deferred();
  const layerStored = manifest.layers.map(() => deferred());
  let failed: unknown;
  const fail = (e: unknown) => {
    if (failed !== undefined) return;
    failed = e;
    abort.abort(e);
    configStored.reject(e);
    for (const d of layerStored) d.reject(e);
  };
  const cancelled = () => fail(opts.signal!.reason);
  if (opts.signal?.aborted) cancelled();
  opts.signal?.addEventListener('abort', cancelled, { once: true });

  let session: UnpackSession | undefined;
  let unpacking: Promise<string | undefined> | undefined;
  if (opts.unpack) {
    const u = opts.unpack;
    const s = new UnpackSession(u.snapshotter);
    session = s;
    unpacking = configStored.promise.then(() => {
      const diffIds = config!.rootfs.diff_ids;
      return unpackLayers(
        u.snapshotter,
        content,
        { layers: manifest.layers, diffIds },
        {
          ready: (i) => layerStored[i]!.promise,
          signal: abort.signal,
          onLayer: (i, state) => {
            const d = manifest.layers[i]!;
            progress({ id: d.digest, kind: 'layer', status: state, current: d.size, total: d.size });
          },
          ...(u.apply ? { apply: u.apply } : {}),
          ...(u.unprivileged !== undefined ? { unprivileged: u.unprivileged } : {}),
        },
        s,
      );
    });
    unpacking.catch(fail);
  }

  let bytesFetched = 0;
  const limit = Math.max(1, opts.concurrency ?? 3);
  let next = 0;
  const worker = async () => {
    while (next < blobs.length && failed === undefined) {
      const b = blobs[next++]!;
      try {
        // not `bytesFetched += await ...`: that reads the sum before the await and loses what
        // the other workers added meanwhile
        const fetched = await fetchBlob(repo, content, b.desc, b.kind, opts.lease, progress, abort.signal);
        bytesFetched += fetched;
        if (b.kind === 'config') {
          await readConfig().catch(async (e) => {
            // a stored config damaged at its size: fetched again, renamed over the damaged one
            if (fetched !== 0 || !isBrigError(e, 'ERR_CONTENT_CORRUPT')) throw e;
            const again = { reuse: false };
            const n = await fetchBlob(
              repo,
              content,
              b.desc,
              b.kind,
              opts.lease,
              progress,
              abort.signal,
              again,
            );
            bytesFetched += n;
            await readConfig();
          });
          configStored.resolve();
        } else layerStored[b.index]!.resolve();
      } catch (e) {
        fail(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, blobs.length) }, worker));
  const top = unpacking ? await unpacking.catch(() => undefined) : undefined;
  opts.signal?.removeEventListener('abort', cancelled);
  if (failed === undefined && opts.signal?.aborted) failed = opts.signal.reason;
  if (failed !== undefined) {
    await session?.undo();
    throw failed;
  }
  const platform = platformOfConfig(config!);

  const manifestDesc = descriptorOf(manifestFetched);
  try {
    await content.ingest(manifestFetched.bytes, {
      digest: manifestDesc.digest,
      size: manifestDesc.size,
      ...lease(opts.lease),
    });
  } catch (e) {
    await session?.undo();
    throw e;
  }
  progress({
    id: manifestDesc.digest,
    kind: 'manifest',
    status: 'done',
    current: manifestDesc.size,
    total: manifestDesc.size,
  });

  session?.finish();
  return {
    reference: name,
    target,
    manifest: manifestDesc,
    config: manifest.config,
    layers: manifest.layers,
    platform,
    bytesFetched,
    source: repo.ep.host,
    ...(session ? { unpacked: { chainId: top ?? null } } : {}),
  };
}

function platformOfConfig(config: ImageConfig): Platform {
  return {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  };
}

const WRITE_BATCH = 1 << 20;

/**
 * Destroys a response nobody reads (which closes the connection). undici's body emits
 * RequestAbortedError when destroyed unread: without a listener that error would be thrown from
 * the event loop and stop brigd.
 */
function discard(res: Awaited<ReturnType<RepositoryClient['getBlob']>>): void {
  res.body.on('error', () => {});
  res.body.destroy();
}

/**
 * The response, or the signal's reason as soon as it is aborted; a response that arrives after
 * that is discarded.
 */
function abortable(
  p: Promise<Awaited<ReturnType<RepositoryClient['getBlob']>>>,
  signal: AbortSignal | undefined,
): Promise<Awaited<ReturnType<RepositoryClient['getBlob']>>> {
  if (!signal) return p;
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      p.then(discard, () => {});
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (res) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) discard(res);
        else resolve(res);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Whether the stored copy of `desc` may be used as it is: present and of the descriptor's size.
 * A stored blob of another size was truncated or replaced on disk; it is fetched again like a
 * missing one, and the commit renames the verified copy over it (never absent for a reader).
 * One stat, as `has`: a reused blob is not hashed here (same-size damage: docs/storage.md).
 */
async function reusable(content: ContentStore, desc: Descriptor): Promise<boolean> {
  try {
    return (await content.info(desc.digest)).size === desc.size;
  } catch (e) {
    if (isBrigError(e, 'ERR_CONTENT_NOT_FOUND')) return false;
    throw e;
  }
}

function lease(l: string | undefined): { lease?: string } {
  return l === undefined ? {} : { lease: l };
}

/**
 * Fetches one blob into the store (resuming on broken connections). Returns bytes fetched.
 * `signal` cancels it: the response body is destroyed, the ingestion aborted, and the promise
 * rejects with the signal's reason. `reuse: false` fetches it even when a copy is stored (one
 * found damaged), replacing that copy at commit.
 */
export async function fetchBlob(
  repo: RepositoryClient,
  content: ContentStore,
  desc: Descriptor,
  kind: 'config' | 'layer',
  leaseId: string | undefined,
  progress: ProgressFn,
  signal?: AbortSignal,
  opts: { reuse?: boolean } = {},
): Promise<number> {
  signal?.throwIfAborted();
  const total = desc.size;
  if (opts.reuse !== false && (await reusable(content, desc))) {
    if (leaseId !== undefined) await content.addToLease(leaseId, desc.digest);
    progress({ id: desc.digest, kind, status: 'exists', current: total, total });
    return 0;
  }
  const retry = repo.transport.retry;
  const ref = `pull:${desc.digest}`;
  let w: Writer = await content.writer({
    digest: desc.digest as Digest,
    size: total,
    ref,
    resume: true,
    ...lease(leaseId),
  });
  let fetchedBytes = 0;
  let failures = 0;
  try {
    let offset = w.offset;
    // Writes are batched (1 MiB) and overlap the network: one write is in flight while the next
    // batch is being received. `offset` counts bytes received; a broken connection first flushes
    // what arrived, then asks for the rest with Range.
    let pending: Promise<void> = Promise.resolve();
    let batch: Buffer[] = [];
    let batchLen = 0;
    const flush = async () => {
      await pending;
      if (batchLen > 0) {
        const buf = batch;
        batch = [];
        batchLen = 0;
        await w.write(buf);
      }
    };
    while (offset < total) {
      progress({ id: desc.digest, kind, status: 'downloading', current: offset, total });
      let cancel: (() => void) | undefined;
      try {
        signal?.throwIfAborted();
        const res = await abortable(repo.getBlob(desc.digest, offset), signal);
        if (signal) {
          cancel = () => res.body.destroy(signal.reason);
          if (signal.aborted) cancel();
          else signal.addEventListener('abort', cancel, { once: true });
        }
        if (offset > 0 && res.statusCode === 200) {
          // the registry ignored Range: start over with a fresh ingestion
          await w.abort();
          w = await content.writer({ digest: desc.digest, size: total, ref, ...lease(leaseId) });
          offset = 0;
        }
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (offset + chunk.length > total) {
            res.body.destroy();
            throw new BrigError(
              'ERR_CONTENT_SIZE_MISMATCH',
              `${repo.name}@${desc.digest}: the registry sent more than the ${total} bytes announced`,
            );
          }
          batch.push(chunk);
          batchLen += chunk.length;
          offset += chunk.length;
          fetchedBytes += chunk.length;
          if (batchLen >= WRITE_BATCH) {
            // the chunks as received, in one writev: no copy into one buffer
            const buf = batch;
            batch = [];
            batchLen = 0;
            await pending;
            pending = w.write(buf);
            pending.catch(() => {}); // surfaced by the next await; never an unhandled rejection
          }
          progress({ id: desc.digest, kind, status: 'downloading', current: offset, total });
        }
        await flush();
        if (offset < total) {
          // the body ended early without an error: treat as a broken connection
          throw Object.assign(new Error('response ended early'), { code: 'UND_ERR_SOCKET' });
        }
      } catch (e) {
        await flush();
        if (signal?.aborted) throw signal.reason;
        if (!isNetworkError(e) || ++failures >= retry.attempts) {
          if (isNetworkError(e)) {
            throw new BrigError(
              'ERR_REGISTRY_UNAVAILABLE',
              `${repo.name}@${desc.digest}: download kept failing at byte ${offset} of ${total}`,
              {
                cause: e,
              },
            );
          }
          throw e;
        }
        progress({
          id: desc.digest,
          kind,
          status: 'retrying',
          current: offset,
          total,
          message: (e as Error).message,
        });
        const exp = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (failures - 1));
        await new Promise((r) => setTimeout(r, exp / 2 + Math.random() * (exp / 2)));
      } finally {
        if (cancel) signal?.removeEventListener('abort', cancel);
      }
    }
    progress({ id: desc.digest, kind, status: 'verifying', current: total, total });
    await w.commit();
  } catch (e) {
    await w.abort().catch(() => {});
    throw e;
  }
  progress({ id: desc.digest, kind, status: 'done', current: total, total });
  return fetchedBytes;
}

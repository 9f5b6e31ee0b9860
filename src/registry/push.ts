/**
 * Push: an image in the content store -> a repository.
 *
 * Order: every blob a manifest references is in the repository before the manifest; every
 * manifest before the index that lists it; the tag last. For each blob: HEAD (present -> done),
 * else a cross-repository mount from a repository of the same registry known to hold it (201 ->
 * done; 202 -> the registry opened an ordinary upload instead, which is used), else an upload:
 * POST, then one monolithic PUT or PATCH chunks + PUT with the digest. Without mount sources the
 * POST is sent together with the HEAD, and its session cancelled (DELETE) when the blob turns out
 * to be there. A failed upload is started again from POST (upload sessions are not resumed).
 *
 * Pushing a single manifest to a tag that holds an index keeps the index's other platforms: the
 * entry for the manifest's platform is replaced (or added) and the new index pushed. Pushing a
 * manifest over a tag that holds a manifest replaces it.
 *
 * Manifests and indexes are pushed byte for byte as stored, so their digests do not change.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ContentStore, Descriptor, Digest } from '../content/store.ts';
import { BrigError } from '../errors/errors.ts';
import {
  type ImageIndex,
  isIndexMediaType,
  isManifestMediaType,
  MEDIA_TYPES,
  type Platform,
  parseConfig,
  parseIndex,
  parseJson,
  parseManifest,
} from '../images/oci.ts';
import { normalizePlatform } from '../images/platform.ts';
import { formatReference, type Reference as ImageReference } from '../images/reference.ts';
import type { ProgressFn } from './progress.ts';
import { type FetchedManifest, RepositoryClient } from './repository.ts';
import { isNetworkError, type RegistryTransport } from './transport.ts';

export interface PushOptions {
  /** Repositories on the destination registry that may already hold the blobs (mount sources). */
  mountFrom?: string[];
  /** Blobs uploaded at the same time (default 3). */
  concurrency?: number;
  /** Bytes per PATCH; 0 = one monolithic PUT per blob (default 0). */
  chunkSize?: number;
  /** Merge a single manifest into an index at the tag (default true). */
  mergeIndex?: boolean;
  onProgress?: ProgressFn;
  /**
   * Called as the push passes each step (`manifest read`, `layer exists?`, `layer session`,
   * `layer first byte`, `layer uploaded`, the same for `config`, `config read`, `tag read`,
   * `manifest put`): the route logs the times (debug).
   */
  onStep?: (step: string) => void;
}

export interface PushResult {
  reference: string;
  /** What the tag points at now (the merged index when one was built). */
  digest: Digest;
  mediaType: string;
  size: number;
  /** Platforms the merged index kept besides the pushed one. */
  keptPlatforms?: Platform[];
  bytesUploaded: number;
}

/** How many of an image's other repositories a blob's push tries to mount from. */
const MAX_MOUNT_SOURCES = 3;

interface Ctx {
  repo: RepositoryClient;
  content: ContentStore;
  opts: PushOptions;
  progress: ProgressFn;
  step: (s: string) => void;
  uploaded: number;
  /** Called when a blob's bytes begin to go up (the push then has time for other requests). */
  uploading: () => void;
}

export async function push(
  transport: RegistryTransport,
  content: ContentStore,
  dest: ImageReference,
  target: Descriptor,
  opts: PushOptions = {},
): Promise<PushResult> {
  const mountFrom = (opts.mountFrom ?? []).filter((r) => r !== dest.path);
  const [ep] = transport.hosts.endpoints(dest.domain, 'push');
  const repo = new RepositoryClient(transport, ep!, dest.path, true, mountFrom);
  const ctx: Ctx = {
    repo,
    content,
    opts: { ...opts, mountFrom },
    progress: opts.onProgress ?? (() => {}),
    step: opts.onStep ?? (() => {}),
    uploaded: 0,
    uploading: () => {},
  };
  const name = formatReference(dest);
  const tag = dest.tag;
  /** The result when the tag (or the digest) names the target itself. */
  const targetResult = (): PushResult => ({
    reference: name,
    digest: target.digest,
    mediaType: target.mediaType,
    size: target.size,
    bytesUploaded: ctx.uploaded,
  });
  if (dest.digest && dest.digest !== target.digest) {
    throw new BrigError(
      'ERR_INVALID_ARGUMENT',
      `${name}: the image's digest is ${target.digest}, not ${dest.digest}`,
    );
  }

  if (isIndexMediaType(target.mediaType)) {
    const bytes = await content.readBytes(target.digest, { verify: true });
    const index = parseIndex(parseJson(bytes, `index ${target.digest}`), { mediaType: target.mediaType });
    for (const m of index.manifests) {
      if (await content.has(m.digest)) await pushManifestTree(ctx, m, { putByDigest: true });
      else if (!(await repo.hasManifest(m.digest))) {
        throw new BrigError(
          'ERR_CONTENT_NOT_FOUND',
          `${name}: manifest ${m.digest} of the index is neither stored locally nor in the repository`,
          {
            hint: 'Pull the image for every platform first, or push a single platform.',
          },
        );
      }
    }
    await repo.putManifest(tag ?? target.digest, bytes, target.mediaType);
    return targetResult();
  }
  if (!isManifestMediaType(target.mediaType)) {
    throw new BrigError(
      'ERR_IMAGE_MEDIA_TYPE',
      `${name}: ${target.mediaType} is not an image manifest or index`,
    );
  }
  // The tag's current content (an index there is merged) is looked up once the first blob's
  // bytes are going up, so that it does not hold up the layers' first requests; with nothing to
  // upload, after the blobs are checked.
  let remoteP: Promise<FetchedManifest | undefined> | undefined;
  const readTag = () => {
    if (tag === undefined || opts.mergeIndex === false) return Promise.resolve(undefined);
    if (!remoteP) {
      remoteP = repo.getManifest(tag, { allowMissing: true }).then((m) => {
        ctx.step('tag read');
        return m;
      });
      remoteP.catch(() => {}); // awaited below; never an unhandled rejection
    }
    return remoteP;
  };
  ctx.uploading = () => void readTag();
  const { platform, bytes } = await pushManifestTree(ctx, target, { putByDigest: false });
  const remote = await readTag();
  if (tag !== undefined && remote && isIndexMediaType(remote.mediaType)) {
    const old = parseIndex(parseJson(remote.bytes, `index ${name}`), {
      what: `index ${name}`,
      mediaType: remote.mediaType,
    });
    await repo.putManifest(target.digest, bytes, target.mediaType);
    const merged = mergeIntoIndex(old, remote.mediaType, { ...target, platform }, remote.bytes);
    const digest = sha256(merged.bytes);
    await repo.putManifest(tag, merged.bytes, merged.mediaType);
    return {
      reference: name,
      digest,
      mediaType: merged.mediaType,
      size: merged.bytes.length,
      keptPlatforms: merged.kept,
      bytesUploaded: ctx.uploaded,
    };
  }
  await repo.putManifest(tag ?? target.digest, bytes, target.mediaType);
  ctx.step('manifest put');
  return targetResult();
}

function sha256(b: Buffer): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/**
 * A new index: `old` with every entry for the manifest's platform replaced by the manifest
 * (added when none). Other entries, annotations and unknown fields are kept as they were.
 */
export function mergeIntoIndex(
  old: ImageIndex,
  mediaType: string,
  manifest: Descriptor & { platform: Platform },
  oldBytes: Buffer,
): { bytes: Buffer; kept: Platform[]; mediaType: string } {
  const raw = JSON.parse(oldBytes.toString('utf8')) as Record<string, unknown> & { manifests: unknown[] };
  const keptRaw: unknown[] = [];
  const kept: Platform[] = [];
  old.manifests.forEach((d, i) => {
    if (d.platform && samePlatform(d.platform, manifest.platform)) return;
    if (d.digest === manifest.digest) return;
    keptRaw.push(raw.manifests[i]);
    if (d.platform) kept.push(d.platform);
  });
  const entry: Record<string, unknown> = {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.size,
    platform: manifest.platform,
  };
  if (mediaType === MEDIA_TYPES.dockerManifestList && manifest.mediaType !== MEDIA_TYPES.dockerManifest) {
    // a Docker manifest list only lists Docker manifests; convert the list to an OCI index
    mediaType = MEDIA_TYPES.ociIndex;
  }
  const next = { ...raw, schemaVersion: 2, mediaType, manifests: [...keptRaw, entry] };
  return { bytes: Buffer.from(JSON.stringify(next)), kept, mediaType };
}

/**
 * Pushes a manifest's blobs and, with `putByDigest`, the manifest by its digest. Returns the
 * image's platform and the manifest's bytes.
 */
async function pushManifestTree(
  ctx: Ctx,
  desc: Descriptor,
  o: { putByDigest: boolean },
): Promise<{ platform: Platform; bytes: Buffer }> {
  const bytes = await ctx.content.readBytes(desc.digest, { verify: true });
  const manifest = parseManifest(parseJson(bytes, `manifest ${desc.digest}`), { mediaType: desc.mediaType });
  ctx.step('manifest read');
  // the config (read for the platform) is read and checked while the blobs go up; the manifest
  // is not pushed unless it is valid
  const configP = ctx.content.readBytes(manifest.config.digest, { verify: true }).then((b) => {
    ctx.step('config read');
    return parseConfig(parseJson(b, `config ${manifest.config.digest}`));
  });
  configP.catch(() => {}); // awaited below; never an unhandled rejection
  const blobs: { desc: Descriptor; kind: 'config' | 'layer' }[] = [
    ...manifest.layers.map((d) => ({ desc: d, kind: 'layer' as const })),
    { desc: manifest.config, kind: 'config' },
  ];
  for (const b of blobs)
    ctx.progress({ id: b.desc.digest, kind: b.kind, status: 'waiting', current: 0, total: b.desc.size });
  // The config's requests wait until every layer's upload has begun (or the layer turned out to be
  // there): the registry then answers the layers' HEAD and POST sooner, and the small config goes
  // up while the layers do.
  const layerStarted: { resolve: () => void }[] = [];
  const layersStarted = Promise.all(
    manifest.layers.map(
      () =>
        new Promise<void>((resolve) => {
          layerStarted.push({ resolve });
        }),
    ),
  );
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < blobs.length && failed === undefined) {
      const i = next++;
      const b = blobs[i]!;
      try {
        if (b.kind === 'config') await layersStarted;
        if (failed === undefined) await pushBlob(ctx, b.desc, b.kind, layerStarted[i]?.resolve);
      } catch (e) {
        failed ??= e;
      } finally {
        layerStarted[i]?.resolve();
      }
    }
  };
  const limit = Math.max(1, ctx.opts.concurrency ?? 3);
  await Promise.all(Array.from({ length: Math.min(limit, blobs.length) }, worker));
  if (failed !== undefined) throw failed;
  const config = await configP;
  if (o.putByDigest) await ctx.repo.putManifest(desc.digest, bytes, desc.mediaType);
  ctx.progress({ id: desc.digest, kind: 'manifest', status: 'done', current: desc.size, total: desc.size });
  const platform: Platform = {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  };
  return { platform, bytes };
}

/** `started` is called when the blob's bytes begin to go up (not when it is there already). */
async function pushBlob(
  ctx: Ctx,
  desc: Descriptor,
  kind: 'config' | 'layer',
  started?: () => void,
): Promise<void> {
  const { repo, content, progress, step } = ctx;
  const total = desc.size;
  const info = await content.info(desc.digest);
  if (info.size !== total) {
    throw new BrigError(
      'ERR_CONTENT_SIZE_MISMATCH',
      `blob ${desc.digest} is ${info.size} bytes in the store, the manifest says ${total}`,
    );
  }
  // Without mount sources the upload session is opened while HEAD asks whether the blob is there:
  // the bytes go one round trip sooner, and a session that is not needed is cancelled.
  const early =
    (ctx.opts.mountFrom ?? []).length === 0
      ? repo.startUpload(desc.digest).catch(() => undefined) // a failure here: the loop below tries again
      : undefined;
  const cancelEarly = async () => {
    const s = await early;
    if (s && !s.mounted) await repo.cancelUpload(s.location).catch(() => {});
  };
  let exists: boolean;
  try {
    exists = await repo.hasBlob(desc.digest);
    step(`${kind} exists?`);
  } catch (e) {
    await cancelEarly();
    throw e;
  }
  if (exists) {
    await cancelEarly();
    progress({ id: desc.digest, kind, status: 'exists', current: total, total });
    return;
  }
  let session: { mounted: true } | { mounted: false; location: string } | undefined = await early;
  step(`${kind} session`);
  // Cross-repository mounts, from up to MAX_MOUNT_SOURCES other names: a refused mount opens a
  // normal session, cancelled while another source is left to try, used for the upload otherwise.
  const sources = (ctx.opts.mountFrom ?? []).slice(0, MAX_MOUNT_SOURCES);
  for (const [i, from] of sources.entries()) {
    const s = await repo.startUpload(desc.digest, from);
    if (s.mounted) {
      progress({ id: desc.digest, kind, status: 'mounted', current: total, total });
      return;
    }
    if (i < sources.length - 1) await repo.cancelUpload(s.location).catch(() => {});
    else session = s;
  }
  const retry = repo.transport.retry;
  for (let attempt = 1; ; attempt++) {
    const s = session && !session.mounted ? session : await repo.startUpload(desc.digest);
    session = undefined;
    if (s.mounted) return;
    let sent = 0;
    progress({ id: desc.digest, kind, status: 'uploading', current: 0, total });
    try {
      await repo.upload(
        s.location,
        { digest: desc.digest, size: total },
        // straight from the blob file, in 1 MiB reads (the store's reader uses 64 KiB)
        (start, end) => {
          step(`${kind} first byte`);
          started?.();
          ctx.uploading();
          return end > start
            ? createReadStream(content.blobPath(desc.digest), { start, end: end - 1, highWaterMark: 1 << 20 })
            : Readable.from([]);
        },
        {
          chunkSize: ctx.opts.chunkSize ?? 0,
          onBytes: (n) => {
            sent += n;
            progress({ id: desc.digest, kind, status: 'uploading', current: Math.min(sent, total), total });
          },
        },
      );
      ctx.uploaded += total;
      step(`${kind} uploaded`);
      progress({ id: desc.digest, kind, status: 'done', current: total, total });
      return;
    } catch (e) {
      const transient =
        isNetworkError(e) || (e instanceof BrigError && e.code === 'ERR_REGISTRY_UNAVAILABLE');
      if (!transient || attempt >= retry.attempts) throw e;
      progress({
        id: desc.digest,
        kind,
        status: 'retrying',
        current: 0,
        total,
        message: (e as Error).message,
      });
      const exp = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, exp / 2 + Math.random() * (exp / 2)));
    }
  }
}

function samePlatform(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture && x.variant === y.variant;
}

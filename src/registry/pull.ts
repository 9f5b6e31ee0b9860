/**
 * Pull: reference -> manifest (or index -> the manifest for the wanted platform) -> config and
 * layers into the content store.
 *
 * Order of work and why:
 *   1. resolve the reference on the first endpoint that answers (mirrors first, then the registry);
 *   2. fetch the config and the layers the store lacks, `concurrency` at a time, each through a
 *      store writer that checks size and digest at commit (a wrong blob is never published);
 *   3. store the manifest last: a stored manifest never points at missing blobs. An index is not
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
  progress({ id: name, kind: 'manifest', status: 'resolving' });
  const { repo, fetched } = await resolve(transport, ref);
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

  const blobs: { desc: Descriptor; kind: 'config' | 'layer' }[] = [
    { desc: manifest.config, kind: 'config' },
    ...manifest.layers.map((desc) => ({ desc, kind: 'layer' as const })),
  ];
  for (const b of blobs)
    progress({ id: b.desc.digest, kind: b.kind, status: 'waiting', current: 0, total: b.desc.size });
  let bytesFetched = 0;
  const limit = Math.max(1, opts.concurrency ?? 3);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < blobs.length && failed === undefined) {
      const b = blobs[next++]!;
      try {
        bytesFetched += await fetchBlob(repo, content, b.desc, b.kind, opts.lease, progress);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, blobs.length) }, worker));
  if (failed !== undefined) throw failed;

  const config: ImageConfig = parseConfig(
    parseJson(await content.readBytes(manifest.config.digest), `config of ${name}`),
    {
      what: `config of ${name}`,
    },
  );
  const platform: Platform = {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  };
  if (opts.strictPlatform && !opts.platforms.some((p) => matchScore(p, platform) >= 0)) {
    throw new BrigError(
      'ERR_IMAGE_PLATFORM',
      `${name} is for ${formatPlatform(normalizePlatform(platform))}, not ${opts.platforms.map((p) => formatPlatform(normalizePlatform(p))).join(' or ')}`,
    );
  }

  const manifestDesc = descriptorOf(manifestFetched);
  await content.ingest(manifestFetched.bytes, {
    digest: manifestDesc.digest,
    size: manifestDesc.size,
    ...lease(opts.lease),
  });
  progress({
    id: manifestDesc.digest,
    kind: 'manifest',
    status: 'done',
    current: manifestDesc.size,
    total: manifestDesc.size,
  });

  return {
    reference: name,
    target,
    manifest: manifestDesc,
    config: manifest.config,
    layers: manifest.layers,
    platform,
    bytesFetched,
    source: repo.ep.host,
  };
}

const WRITE_BATCH = 1 << 20;

function lease(l: string | undefined): { lease?: string } {
  return l === undefined ? {} : { lease: l };
}

/** Fetches one blob into the store (resuming on broken connections). Returns bytes fetched. */
export async function fetchBlob(
  repo: RepositoryClient,
  content: ContentStore,
  desc: Descriptor,
  kind: 'config' | 'layer',
  leaseId: string | undefined,
  progress: ProgressFn,
): Promise<number> {
  const total = desc.size;
  if (await content.has(desc.digest)) {
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
        const buf = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchLen);
        batch = [];
        batchLen = 0;
        await w.write(buf);
      }
    };
    while (offset < total) {
      progress({ id: desc.digest, kind, status: 'downloading', current: offset, total });
      try {
        const res = await repo.getBlob(desc.digest, offset);
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
            const buf = Buffer.concat(batch, batchLen);
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

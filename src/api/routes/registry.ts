/**
 * Registry routes (docs/api.md, "Registry"):
 *   POST /registry/pull    {reference, platform?, unpack?}   NDJSON: {"progress": ...}* then {"result": ...}
 *                          unpack (default true): layers are unpacked into the daemon's snapshotter
 *                          as they arrive; false: blobs only (unpacked at a container's first run)
 *   POST /registry/push    {image}                  NDJSON: {"progress": ...}* then {"result": ...}
 *                          the image is also recorded as REPO@DIGEST (the digest the registry took);
 *                          a pull by tag records REPO:TAG and REPO@DIGEST (ImageService.record)
 *   POST /registry/login   {host, username, password} -> {host}
 *   POST /registry/logout  {host}                   -> {host, removed}
 * Failures before the stream starts (bad reference, unknown image) are ordinary error answers;
 * once it has started, a failure is an in-band `{"error": ...}` line. Credentials never appear in
 * answers, logs or events.
 */
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import type { Platform } from '../../images/oci.ts';
import { formatPlatform, parsePlatform, platformOf } from '../../images/platform.ts';
import { formatReference } from '../../images/reference.ts';
import { type ProgressEvent, throttled } from '../../registry/progress.ts';
import { normaliseLoginHost, type Registry } from '../../registry/registry.ts';
import { cancelOnDisconnect } from '../disconnect.ts';
import type { ApiRequest, Router } from '../router.ts';
import { STREAMED } from '../router.ts';

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined)
    throw new BrigError('ERR_UNSUPPORTED_PLATFORM', `${what} is not available in this brigd`);
  return v;
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '')
    throw new BrigError('ERR_API_BODY', `field "${field}" must be a non-empty string`);
  return v;
}

/** Platforms a pull accepts on this host, most preferred first. */
function hostPlatforms(s: Services): Platform[] {
  if (s.platformName === 'linux') return [platformOf('linux', process.arch)];
  // FreeBSD prefers FreeBSD images and can run Linux ones (linux(4) emulation)
  return [platformOf('freebsd', process.arch), platformOf('linux', process.arch)];
}

/** Runs `work` as an NDJSON stream of progress lines ending with its result (or an error line). */
async function streamed(
  req: ApiRequest,
  work: (progress: (e: ProgressEvent) => void) => Promise<unknown>,
): Promise<typeof STREAMED> {
  const res = req.res;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  const write = (v: unknown) => {
    if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(v)}\n`);
  };
  try {
    const result = await work(throttled((e) => write({ progress: e })));
    write({ result });
  } catch (e) {
    const err =
      e instanceof BrigError
        ? e
        : new BrigError('ERR_INTERNAL', (e as Error)?.message ?? String(e), { cause: e });
    write({ error: err.toJSON() });
  }
  res.end();
  return STREAMED;
}

export function register(r: Router, s: Services): void {
  const registry = (): Registry => need(s.registry, 'the registry service');

  r.post('/registry/pull', async (req) => {
    const body = await req.json<{ reference?: unknown; platform?: unknown; unpack?: unknown }>();
    const reg = registry();
    const images = need(s.images, 'the image service');
    const content = need(s.content, 'the content store');
    const ref = reg.parse(str(body.reference, 'reference'));
    if (body.unpack !== undefined && typeof body.unpack !== 'boolean')
      throw new BrigError('ERR_API_BODY', 'field "unpack" must be true or false');
    const unpack = body.unpack !== false;
    const snapshotter = unpack ? need(s.snapshots, 'the snapshotter') : undefined;
    const explicit = body.platform === undefined ? undefined : parsePlatform(str(body.platform, 'platform'));
    const platforms = explicit ? [explicit] : hostPlatforms(s);
    // Ctrl-C on `brig pull` closes the connection: the pull stops and is undone (lease dropped,
    // downloads and unpacked layers removed, nothing recorded)
    const signal = cancelOnDisconnect(req.res, 'the pull');
    return streamed(req, async (progress) => {
      const lease = await content.createLease({
        expiresInMs: 24 * 3600_000,
        labels: { 'brig.pull': formatReference(ref) },
      });
      try {
        const pulled = await reg.pull(ref, {
          platforms,
          strictPlatform: explicit !== undefined,
          lease,
          signal,
          onProgress: progress,
          ...(snapshotter
            ? {
                unpack: {
                  snapshotter,
                  unprivileged: process.getuid?.() !== 0,
                },
              }
            : {}),
        });
        // NAME:TAG@DIGEST is recorded (and answered) as NAME@DIGEST: the digest decided what was pulled
        const name = ref.digest
          ? formatReference({ domain: ref.domain, path: ref.path, digest: ref.digest })
          : pulled.reference;
        let summary: Awaited<ReturnType<typeof images.record>>;
        try {
          signal.throwIfAborted();
          summary = await images.record(name, pulled.manifest, { pulled: pulled.target.digest });
        } catch (e) {
          // undo the unpack as a failed pull does: once the lease is gone, the layers this pull
          // committed that nothing else needs are no longer kept by the layer GC
          await content.deleteLease(lease).catch(() => {});
          if (snapshotter) await images.collectLayers();
          throw e;
        }
        s.events.emit('image', 'pull', summary.id, {
          name,
          digest: pulled.manifest.digest,
        });
        return {
          name,
          id: summary.id,
          manifestDigest: pulled.manifest.digest,
          targetDigest: pulled.target.digest,
          platform: formatPlatform(pulled.platform),
          bytesFetched: pulled.bytesFetched,
          unpacked: pulled.unpacked !== undefined,
          ...(pulled.unpacked?.chainId ? { chainId: pulled.unpacked.chainId } : {}),
        };
      } finally {
        await content.deleteLease(lease).catch(() => {});
      }
    });
  });

  r.post('/registry/push', async (req) => {
    // milliseconds from here to each step, logged (debug) when the push ends
    const t0 = performance.now();
    const ms: Record<string, number> = {};
    const step = (k: string) => {
      ms[k] ??= Math.round((performance.now() - t0) * 10) / 10;
    };
    const body = await req.json<{ image?: unknown }>();
    const reg = registry();
    const images = need(s.images, 'the image service');
    const dest = reg.parse(str(body.image, 'image'));
    const name = formatReference(dest);
    const image = await images.lookup(name);
    step('image found');
    // other names of the same image on the same registry: blobs can be mounted from there (each
    // repository once: a tag and a digest name of one repository are one source)
    const mountFrom = image.names.flatMap((n) => {
      try {
        const o = reg.parse(n);
        return o.domain === dest.domain && o.path !== dest.path ? [o.path] : [];
      } catch {
        return [];
      }
    });
    const mountSources = [...new Set(mountFrom)];
    return streamed(req, async (progress) => {
      const pushed = await reg.push(dest, image.target, {
        mountFrom: mountSources,
        onProgress: progress,
        onStep: step,
      });
      step('pushed');
      // the image answers to REPO@DIGEST from now on (docker's RepoDigests); the push succeeded
      // even if the name was removed meanwhile (then nothing is recorded)
      await images.recordDigest(name, image.id, pushed.digest).catch((e: unknown) => {
        s.log('warn', 'pushed image not recorded under its digest', {
          name,
          digest: pushed.digest,
          error: (e as Error)?.message ?? String(e),
        });
      });
      s.log('debug', 'image pushed', { name, digest: pushed.digest, ms });
      s.events.emit('image', 'push', image.id, { name, digest: pushed.digest });
      return {
        name,
        digest: pushed.digest,
        mediaType: pushed.mediaType,
        size: pushed.size,
        ...(pushed.keptPlatforms ? { keptPlatforms: pushed.keptPlatforms.map(formatPlatform) } : {}),
        bytesUploaded: pushed.bytesUploaded,
      };
    });
  });

  r.post('/registry/login', async (req) => {
    const body = await req.json<{ host?: unknown; username?: unknown; password?: unknown }>();
    const host = await registry().login(str(body.host, 'host'), {
      username: str(body.username, 'username'),
      password: str(body.password, 'password'),
    });
    s.events.emit('registry', 'login', host, {});
    return { host };
  });

  r.post('/registry/logout', async (req) => {
    const body = await req.json<{ host?: unknown }>();
    const reg = registry();
    const hostArg = str(body.host, 'host');
    const host = normaliseLoginHost(hostArg);
    const removed = await reg.logout(hostArg);
    if (removed) s.events.emit('registry', 'logout', host, {});
    return { host, removed };
  });
}

/**
 * Images: GET /images, GET /images/:name/json, POST /images/import, POST /images/:name/export,
 * POST /images/:name/unpack, POST /images/:name/tag, DELETE /images/:name, POST /images/prune.
 * Image names contain '/' and ':': clients send them as one URL-encoded path segment.
 * Paths in bodies are paths on the daemon's host, and must be absolute. docs/api.md § Images.
 *
 * POST /images/import takes the source in one of two forms:
 *   - JSON {source, name?, ref?, platform?}: `source` is a path on brigd's host;
 *   - the archive itself as the body (content-type application/x-tar or application/octet-stream;
 *     name, ref, platform in the query): `brig image import -`, from a client that may be on
 *     another machine. brigd keeps it under its root while it imports (src/images/import-upload.ts).
 * Either import is cancelled and undone when the client goes away before the answer
 * (src/api/disconnect.ts).
 */
import { isAbsolute } from 'node:path';
import type { Services } from '../../daemon/services.ts';
import { BrigError, isBrigError } from '../../errors/errors.ts';
import type { ImageService, ImportOptions } from '../../images/image-service.ts';
import { ImportUploads } from '../../images/import-upload.ts';
import { parsePlatform } from '../../images/platform.ts';
import { cancelOnDisconnect } from '../disconnect.ts';
import { type ApiRequest, created, type Router } from '../router.ts';

function service(s: Services): ImageService {
  if (!s.images) throw new BrigError('ERR_UNSUPPORTED_PLATFORM', 'images are not available in this daemon');
  return s.images;
}

function optString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new BrigError('ERR_API_BODY', `${key} must be a string`);
  return v;
}

function absPath(body: Record<string, unknown>, key: string): string {
  const v = optString(body, key);
  if (v === undefined) throw new BrigError('ERR_API_BODY', `${key} is required`);
  if (!isAbsolute(v))
    throw new BrigError('ERR_API_BODY', `${key} must be an absolute path on the daemon's host`);
  return v;
}

const flag = (v: string | null) => v === '1' || v === 'true';

/** The body is the archive itself, not JSON naming a path. */
function isArchiveBody(req: ApiRequest): boolean {
  const type = (req.raw.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/x-tar' || type === 'application/octet-stream';
}

function importOptions(
  name: string | undefined,
  ref: string | undefined,
  platform: string | undefined,
  signal: AbortSignal,
): ImportOptions {
  return {
    ...(name ? { name } : {}),
    ...(ref ? { ref } : {}),
    ...(platform ? { platform: parsePlatform(platform) } : {}),
    signal,
  };
}

export function register(r: Router, s: Services): void {
  r.get('/images', () => service(s).list());

  r.get('/images/:name/json', (req) => service(s).inspect(req.params.name!));

  r.post('/images/import', async (req) => {
    const images = service(s);
    const signal = cancelOnDisconnect(req.res, 'the import');
    if (isArchiveBody(req)) {
      const q = (k: string) => req.query.get(k) || undefined;
      const opts = importOptions(q('name'), q('ref'), q('platform'), signal);
      const upload = await new ImportUploads(s.paths.root).receive(req.raw, signal);
      try {
        return created(await images.import(upload.path, { ...opts, label: 'upload' }));
      } catch (e) {
        // the client never saw that file: errors name the archive it sent
        if (!isBrigError(e) || !e.message.includes(upload.path)) throw e;
        throw new BrigError(e.code, e.message.replaceAll(upload.path, 'the uploaded archive'), {
          ...(e.hint ? { hint: e.hint } : {}),
          ...(e.details ? { details: e.details } : {}),
          cause: e,
        });
      } finally {
        await upload.drop();
      }
    }
    const body = await req.json();
    const source = absPath(body, 'source');
    const opts = importOptions(
      optString(body, 'name'),
      optString(body, 'ref'),
      optString(body, 'platform'),
      signal,
    );
    return created(await images.import(source, opts));
  });

  r.post('/images/:name/export', async (req) => {
    const body = await req.json();
    return service(s).export(req.params.name!, absPath(body, 'dest'));
  });

  r.post('/images/:name/unpack', async (req) => {
    const body = await req.json();
    return service(s).unpack(req.params.name!, absPath(body, 'dir'));
  });

  r.post('/images/:name/tag', async (req) => {
    const body = await req.json();
    const target = optString(body, 'target');
    if (!target) throw new BrigError('ERR_API_BODY', 'target is required');
    return created(await service(s).tag(req.params.name!, target));
  });

  r.delete('/images/:name', (req) =>
    service(s).rm(req.params.name!, { force: flag(req.query.get('force')) }),
  );

  r.post('/images/prune', (req) => service(s).prune({ all: flag(req.query.get('all')) }));
}

/**
 * Images: GET /images, GET /images/:name/json, POST /images/import, POST /images/:name/export,
 * POST /images/:name/unpack, POST /images/:name/tag, DELETE /images/:name, POST /images/prune.
 * Image names contain '/' and ':': clients send them as one URL-encoded path segment.
 * Paths in bodies are paths on the daemon's host, and must be absolute. docs/api.md § Images.
 */
import { isAbsolute } from 'node:path';
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import type { ImageService } from '../../images/image-service.ts';
import { parsePlatform } from '../../images/platform.ts';
import { created, type Router } from '../router.ts';

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

export function register(r: Router, s: Services): void {
  r.get('/images', () => service(s).list());

  r.get('/images/:name/json', (req) => service(s).inspect(req.params.name!));

  r.post('/images/import', async (req) => {
    const body = await req.json();
    const source = absPath(body, 'source');
    const name = optString(body, 'name');
    const ref = optString(body, 'ref');
    const platform = optString(body, 'platform');
    return created(
      await service(s).import(source, {
        ...(name ? { name } : {}),
        ...(ref ? { ref } : {}),
        ...(platform ? { platform: parsePlatform(platform) } : {}),
      }),
    );
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

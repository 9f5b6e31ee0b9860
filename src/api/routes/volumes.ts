/**
 * Volumes: GET /volumes, POST /volumes, GET /volumes/:name, DELETE /volumes/:name,
 * POST /volumes/prune. docs/api.md § Volumes.
 */
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import type { VolumeFilter, VolumeService } from '../../volumes/volume-service.ts';
import { created, noContent, type Router } from '../router.ts';

function service(s: Services): VolumeService {
  if (!s.volumes) throw new BrigError('ERR_UNSUPPORTED_PLATFORM', 'volumes are not available in this daemon');
  return s.volumes;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw new BrigError('ERR_API_BODY', `${what} must be an object of strings`);
  }
  return v as Record<string, string>;
}

function parseBool(v: string | null): boolean {
  return v === '1' || v === 'true';
}

/** filter=dangling=true, filter=label=k[=v], filter=name=SUBSTRING */
export function volumeFilter(values: string[]): VolumeFilter {
  const f: VolumeFilter = {};
  for (const kv of values) {
    const i = kv.indexOf('=');
    const k = i < 0 ? kv : kv.slice(0, i);
    const v = i < 0 ? '' : kv.slice(i + 1);
    if (k === 'dangling' && ['true', 'false', '1', '0'].includes(v)) f.dangling = v === 'true' || v === '1';
    else if (k === 'label' && v !== '') (f.label ??= []).push(v);
    else if (k === 'name' && v !== '') f.name = v;
    else {
      throw new BrigError(
        'ERR_INVALID_ARGUMENT',
        `volume filter ${kv}: expected dangling=true|false, label=K[=V] or name=S`,
      );
    }
  }
  return f;
}

export function register(r: Router, s: Services): void {
  r.get('/volumes', (req) => service(s).list(volumeFilter(req.query.getAll('filter'))));

  r.post('/volumes', async (req) => {
    const body = await req.json<{ name?: unknown; driver?: unknown; labels?: unknown; options?: unknown }>();
    if (body.name !== undefined && body.name !== null && typeof body.name !== 'string') {
      throw new BrigError('ERR_API_BODY', 'name must be a string');
    }
    if (body.driver !== undefined && typeof body.driver !== 'string') {
      throw new BrigError('ERR_API_BODY', 'driver must be a string');
    }
    const labels = stringMap(body.labels, 'labels');
    const options = stringMap(body.options, 'options');
    const name = typeof body.name === 'string' && body.name !== '' ? body.name : undefined;
    return created(
      service(s).create(name, {
        ...(typeof body.driver === 'string' ? { driver: body.driver } : {}),
        ...(labels ? { labels } : {}),
        ...(options ? { options } : {}),
        // `brig volume create` without a name makes a named volume with a generated name
        anonymous: false,
      }),
    );
  });

  r.get('/volumes/:name', (req) => service(s).inspect(req.params.name!));

  r.delete('/volumes/:name', async (req) => {
    await service(s).remove(req.params.name!, { force: parseBool(req.query.get('force')) });
    return noContent;
  });

  r.post('/volumes/prune', async (req) => {
    const f = volumeFilter(req.query.getAll('filter'));
    if (f.dangling !== undefined || f.name !== undefined) {
      throw new BrigError('ERR_INVALID_ARGUMENT', 'volume prune takes only label filters');
    }
    return service(s).prune({ all: parseBool(req.query.get('all')), ...(f.label ? { label: f.label } : {}) });
  });
}

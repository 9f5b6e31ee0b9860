/**
 * GET /events: past events as newline-delimited JSON; with follow=1 the connection stays open
 * and new events are written as they happen.
 *   since, until: seconds or RFC 3339 times; afterSeq: cursor; filter=type=container, action=die,
 *   container=NAME|ID, image=..., actor=...
 */
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import { type BrigEvent, type EventFilter, type EventType, matches } from '../../events/events.ts';
import { formatReference, isReference, normalizeReference } from '../../images/reference.ts';
import { referenceResolver } from '../../registry/names.ts';
import { type Router, STREAMED } from '../router.ts';

export function parseTime(v: string | null, what: string): number | undefined {
  if (v === null || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new BrigError('ERR_INVALID_ARGUMENT', `${what}: not a time: ${v}`, {
      hint: 'Use Unix seconds or an RFC 3339 time.',
    });
  return t;
}

function parseSeq(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new BrigError('ERR_INVALID_ARGUMENT', `afterSeq: not an event number: ${v}`);
  return Number(v);
}

/** `canonical`: an image name's canonical form (brigd: by its registries configuration). */
export function parseFilters(
  values: string[],
  canonical: (name: string) => string = normalizeReference,
): EventFilter {
  const f: EventFilter = {};
  for (const kv of values) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new BrigError('ERR_INVALID_ARGUMENT', `filter ${kv}: expected KEY=VALUE`);
    const k = kv.slice(0, i);
    const val = kv.slice(i + 1);
    switch (k) {
      case 'type':
        (f.type ??= []).push(val as EventType);
        break;
      case 'action':
      case 'event':
        (f.action ??= []).push(val);
        break;
      case 'container':
      case 'image':
      case 'volume':
      case 'actor':
        (f.actorId ??= []).push(val);
        // image events name the image canonically: image=busybox:1 means docker.io/library/busybox:1
        // (with the defaults; registries.defaultRegistry decides the host of a short name)
        if (k === 'image' && isReference(val)) f.actorId.push(canonical(val));
        if (k !== 'actor') (f.type ??= []).push(k as EventType);
        break;
      default:
        throw new BrigError('ERR_INVALID_ARGUMENT', `unknown event filter ${k}`, {
          hint: 'Filters: type, action, container, image, volume, actor.',
        });
    }
  }
  return f;
}

export function register(r: Router, s: Services): void {
  const resolve = referenceResolver(s.config.registries);
  r.get('/events', async (req) => {
    const filter: EventFilter = {
      ...parseFilters(req.query.getAll('filter'), (n) => formatReference(resolve(n))),
      since: parseTime(req.query.get('since'), 'since'),
      until: parseTime(req.query.get('until'), 'until'),
      afterSeq: parseSeq(req.query.get('afterSeq')),
    };
    const follow = req.query.get('follow') === '1';
    const res = req.res;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
    const write = (e: BrigEvent) => res.write(`${JSON.stringify(e)}\n`);
    let last = filter.afterSeq ?? 0;
    const queued: BrigEvent[] = [];
    let replaying = true;
    const off = follow
      ? s.events.subscribe((e) => {
          if (!matches(e, filter)) return;
          if (replaying) queued.push(e);
          else write(e);
        })
      : undefined;
    for (const e of s.events.list(filter)) {
      write(e);
      last = e.seq;
    }
    replaying = false;
    for (const e of queued) if (e.seq > last) write(e);
    if (!off) {
      res.end();
      return STREAMED;
    }
    const until = filter.until;
    const timer =
      until !== undefined ? setTimeout(() => res.end(), Math.max(0, until - Date.now())) : undefined;
    req.raw.on('close', () => {
      off();
      if (timer) clearTimeout(timer);
    });
    s.onShutdown.push(() => {
      res.end();
    });
    return STREAMED;
  });
}

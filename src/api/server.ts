/**
 * brigd's API server: node:http on a Unix socket (mode 0660, group configurable).
 */
import { chmod, chown, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { type ApiRequest, type Caller, type Created, noContent, type Router, STREAMED } from './router.ts';
import { STATUS_BY_KIND } from './status.ts';

export interface ServeOptions {
  socketPath: string;
  mode?: number;
  gid?: number;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

const MAX_BODY = 16 << 20;

async function readJson(raw: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of raw as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) throw new BrigError('ERR_API_BODY', 'request body too large');
    chunks.push(c);
  }
  if (n === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new BrigError('ERR_API_BODY', `request body is not JSON: ${(e as Error).message}`);
  }
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = isBrigError(err)
    ? err
    : new BrigError('ERR_INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
  if (res.headersSent) {
    // a stream already started: report in-band, then end
    res.end(`${JSON.stringify({ error: e.toJSON() })}\n`);
    return;
  }
  const body = JSON.stringify({ error: e.toJSON() });
  res.writeHead(STATUS_BY_KIND[e.kind], {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value ?? null);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function serve(router: Router, opts: ServeOptions): Promise<Server> {
  const log = opts.log ?? (() => {});
  const server = createServer({ keepAlive: true }, async (raw, res) => {
    const url = new URL(raw.url ?? '/', 'http://brig');
    const caller: Caller = {};
    try {
      const m = router.match(router.routes, raw.method ?? 'GET', url.pathname);
      if (!m) throw new BrigError('ERR_API_ROUTE', `no route for ${raw.method} ${url.pathname}`);
      if ('allowed' in m) {
        throw new BrigError(
          'ERR_API_ROUTE',
          `${raw.method} not allowed on ${url.pathname} (allowed: ${m.allowed.join(', ')})`,
        );
      }
      let body: Promise<unknown> | undefined;
      const req: ApiRequest = {
        method: raw.method ?? 'GET',
        path: url.pathname,
        params: m.params,
        query: url.searchParams,
        raw,
        res,
        caller,
        json: <T>() => (body ??= readJson(raw)) as Promise<T>,
      };
      const out = await m.handler(req);
      if (out === STREAMED) return;
      if (out === noContent) {
        res.writeHead(204).end();
        return;
      }
      if (out && typeof out === 'object' && (out as Created).__created === true) {
        sendJson(res, 201, (out as Created).value);
        return;
      }
      sendJson(res, 200, out);
    } catch (err) {
      if (!isBrigError(err) || err.kind === 'internal') {
        log('error', 'request failed', {
          method: raw.method,
          path: url.pathname,
          error: String(err),
          stack: (err as Error)?.stack,
        });
      }
      sendError(res, err);
    }
  });

  server.on('upgrade', async (raw: IncomingMessage, socket, head: Buffer) => {
    const url = new URL(raw.url ?? '/', 'http://brig');
    try {
      const m = router.match(router.upgrades, 'POST', url.pathname);
      if (!m || 'allowed' in m) throw new BrigError('ERR_API_ROUTE', `no upgrade route for ${url.pathname}`);
      await m.handler(
        { method: 'POST', path: url.pathname, params: m.params, query: url.searchParams, raw, caller: {} },
        socket,
        head,
      );
    } catch (err) {
      const e = isBrigError(err) ? err : new BrigError('ERR_INTERNAL', String(err));
      const body = JSON.stringify({ error: e.toJSON() });
      socket.end(
        `HTTP/1.1 ${STATUS_BY_KIND[e.kind]} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
  });

  // A socket file left by a dead daemon is replaced; one a live daemon answers on is not (two
  // daemons on different roots must not take each other's socket).
  if (await socketAnswers(opts.socketPath)) {
    throw new BrigError('ERR_DAEMON_RUNNING', `another daemon answers on ${opts.socketPath}`, {
      hint: 'Give this brigd its own --socket, or stop the daemon that listens there.',
    });
  }
  await rm(opts.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(opts.socketPath, opts.mode ?? 0o660);
  if (opts.gid !== undefined) await chown(opts.socketPath, 0, opts.gid);
  return server;
}

/** True when something accepts connections on the Unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

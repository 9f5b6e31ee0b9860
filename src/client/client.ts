/**
 * The typed API client the CLI (and tests) use to talk to brigd over its Unix socket. Errors come
 * back as BrigError with the daemon's code, message and hint; a daemon that cannot be reached is
 * ERR_DAEMON_UNAVAILABLE; a connection that was opened but closed or reset before the whole answer
 * came (brigd stopped or crashed while it worked on the request) is ERR_DAEMON_CONNECTION_LOST.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { BrigError, brigErrorFromAnswer, brigErrorFromJSON } from '../errors/errors.ts';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | string[] | undefined>;
  body?: unknown;
  bodyStream?: Readable;
  headers?: Record<string, string>;
}

export const DEFAULT_SOCKET = '/var/run/brig.sock';

/** `unix:///path` or a bare path → the socket path. */
export function socketFromHost(host: string | undefined): string {
  if (!host) return DEFAULT_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new BrigError('ERR_INVALID_ARGUMENT', `unsupported host ${host}`, {
    hint: 'Use unix:///path/to/brig.sock.',
  });
}

export function encodePath(...segments: string[]): string {
  return segments.map((s) => encodeURIComponent(s)).join('/');
}

function buildQuery(q: RequestOptions['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === false) continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

async function readAll(res: IncomingMessage, socketPath: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  } catch (e) {
    throw connectionLost(socketPath, e);
  }
  return Buffer.concat(chunks);
}

/** The connection to brigd was open and broke before the answer was complete. */
export function connectionLost(socketPath: string, e: unknown): BrigError {
  const why = (e as NodeJS.ErrnoException | undefined)?.code ?? (e as Error | undefined)?.message;
  return new BrigError(
    'ERR_DAEMON_CONNECTION_LOST',
    `brigd at ${socketPath} closed the connection before answering${why ? ` (${why})` : ''}`,
    { cause: e },
  );
}

export class BrigClient {
  readonly socketPath: string;

  constructor(socketPath: string = DEFAULT_SOCKET) {
    this.socketPath = socketPath;
  }

  #unavailable(e: NodeJS.ErrnoException): BrigError {
    return new BrigError(
      'ERR_DAEMON_UNAVAILABLE',
      `cannot reach brigd at ${this.socketPath}: ${e.code ?? e.message}`,
      {
        cause: e,
      },
    );
  }

  /** Sends a request and returns the raw response (status checked: errors are thrown). */
  stream(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { ...opts.headers };
      let payload: Buffer | undefined;
      if (opts.body !== undefined) {
        payload = Buffer.from(JSON.stringify(opts.body));
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(payload.length);
      }
      let connected = false;
      const req = httpRequest(
        {
          // its own connection, no agent (see upgrade() below)
          createConnection: () => connect(this.socketPath).once('connect', () => (connected = true)),
          method,
          path: path + buildQuery(opts.query),
          headers,
        },
        (res) => {
          if ((res.statusCode ?? 500) >= 400) {
            readAll(res, this.socketPath).then(
              (b) => reject(this.#decodeError(res.statusCode ?? 500, b)),
              (e) => reject(e),
            );
            return;
          }
          resolve(res);
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(connected ? connectionLost(this.socketPath, e) : this.#unavailable(e)),
      );
      if (opts.bodyStream) opts.bodyStream.pipe(req);
      else req.end(payload);
    });
  }

  #decodeError(status: number, body: Buffer): BrigError {
    return brigErrorFromAnswer(status, body);
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.stream(method, path, opts);
    const body = await readAll(res, this.socketPath);
    if (res.statusCode === 204 || body.length === 0) return undefined as T;
    return JSON.parse(body.toString('utf8')) as T;
  }

  /** Reads a newline-delimited JSON stream; an in-band `{error}` line is thrown. */
  async *lines<T = unknown>(method: string, path: string, opts: RequestOptions = {}): AsyncGenerator<T> {
    const res = await this.stream(method, path, opts);
    let buf = '';
    const chunks = (res as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (e) {
        throw connectionLost(this.socketPath, e);
      }
      if (next.done) break;
      buf += next.value.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.trim()) continue;
        const v = JSON.parse(line) as T & { error?: { code: string; message: string; hint?: string } };
        if (v && typeof v === 'object' && 'error' in v && v.error && Object.keys(v).length === 1) {
          throw brigErrorFromJSON(v.error);
        }
        yield v as Awaited<T>;
      }
    }
  }

  /** HTTP upgrade (interactive exec/attach): resolves to the raw socket after the 101. */
  upgrade(path: string, opts: RequestOptions = {}): Promise<{ socket: Socket; head: Buffer }> {
    return new Promise((resolve, reject) => {
      const payload = opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body)) : undefined;
      // its own connection, no agent: an upgraded socket is never reused, and the agent's
      // first request costs a few ms (it compiles net's IPv6 pattern for a TLS server name)
      let connected = false;
      const req = httpRequest({
        createConnection: () => connect(this.socketPath).once('connect', () => (connected = true)),
        method: 'POST',
        path: path + buildQuery(opts.query),
        headers: {
          connection: 'Upgrade',
          upgrade: 'brig-stream',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
        },
      });
      req.on('upgrade', (_res, socket, head) => resolve({ socket, head }));
      req.on('response', (res) => {
        readAll(res, this.socketPath).then(
          (b) => reject(this.#decodeError(res.statusCode ?? 500, b)),
          reject,
        );
      });
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(connected ? connectionLost(this.socketPath, e) : this.#unavailable(e)),
      );
      req.end(payload);
    });
  }
}

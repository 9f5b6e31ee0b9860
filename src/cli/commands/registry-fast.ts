/**
 * `brig push` and `brig pull` without commander and without node's http client: a parser for
 * their common forms and one request to brigd written on a plain socket. Loading the program
 * (commander and every verb) costs ~20 ms of a CLI start and node:http with brig's client ~8 ms
 * more; here the request leaves ~32 ms after node starts (bench/README.md, "Registry").
 *
 * parseRegistryCommand returns undefined — and main.ts then uses commander — for anything it does
 * not know: --help, unknown flags, `--`, a second argument, a --platform value that starts with a
 * dash. For what it accepts it gives what commander gives with ./push.ts and ./pull.ts, sends the
 * same body and prints the same output (registry-fast.test.ts compares them).
 * Forms: `[-H|--host H] push [-q|--quiet] NAME`,
 *        `[-H|--host H] pull [-q|--quiet] [--platform P] [--no-unpack] NAME` (flags before or
 *        after NAME, as commander takes them).
 *
 * The answer is read as BrigClient.lines reads it (src/client/client.ts): a status of 400 or more
 * is an error body (`{"error": ...}`); otherwise NDJSON lines, an `{"error": ...}` line is thrown,
 * the last `{"result": ...}` is the result. The error module, the error report and the progress
 * display (cli-progress) are loaded only when they are needed.
 */
import { connect } from 'node:net';
import type { ProgressEvent, PullSummary, PushSummary } from '../../client/registry.ts';
import { pulledText, pushedText } from './registry-output.ts';

export type FastRegistryCommand =
  | { verb: 'push'; host?: string; name: string; quiet: boolean }
  | { verb: 'pull'; host?: string; name: string; quiet: boolean; platform?: string; unpack: boolean };

/** `args`: process.argv without node and the script. */
export function parseRegistryCommand(args: readonly string[]): FastRegistryCommand | undefined {
  let i = 0;
  let host: string | undefined;
  for (; i < args.length && args[i] !== 'push' && args[i] !== 'pull'; i++) {
    const a = args[i]!;
    if ((a === '-H' || a === '--host') && i + 1 < args.length && !args[i + 1]!.startsWith('-'))
      host = args[++i];
    else if (a.startsWith('--host=')) host = a.slice('--host='.length);
    else return undefined;
  }
  const verb = args[i];
  if (verb !== 'push' && verb !== 'pull') return undefined;
  let name: string | undefined;
  let quiet = false;
  let platform: string | undefined;
  let unpack = true;
  for (i++; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-q' || a === '--quiet') quiet = true;
    else if (verb === 'pull' && a === '--no-unpack') unpack = false;
    else if (verb === 'pull' && a.startsWith('--platform=')) platform = a.slice('--platform='.length);
    else if (verb === 'pull' && a === '--platform') {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('-')) return undefined;
      platform = next;
      i++;
    } else if (a.startsWith('-') || name !== undefined) return undefined;
    else name = a;
  }
  if (name === undefined) return undefined;
  const h = host !== undefined ? { host } : {};
  if (verb === 'push') return { verb, ...h, name, quiet };
  return { verb, ...h, name, quiet, ...(platform !== undefined ? { platform } : {}), unpack };
}

/** Runs `brig push` / `brig pull` when parseRegistryCommand accepts the arguments; undefined otherwise. */
export function registryFast(args: readonly string[]): Promise<number> | undefined {
  const p = parseRegistryCommand(args);
  if (!p) return undefined;
  return run(p).then(
    () => 0,
    async (e: unknown) => (await import('../report.ts')).reportError(await asBrigError(e)),
  );
}

/** What the API sends when things fail, before it is turned into a BrigError (lazily loaded). */
class ApiFailure extends Error {
  readonly body: { code: string; message: string; hint?: string; details?: Record<string, unknown> };
  constructor(body: ApiFailure['body']) {
    super(body.message);
    this.body = body;
  }
}

/** The socket could not be reached (or broke): ERR_DAEMON_UNAVAILABLE, as BrigClient says it. */
class Unreachable extends Error {
  readonly errno: NodeJS.ErrnoException;
  constructor(socketPath: string, errno: NodeJS.ErrnoException) {
    super(`cannot reach brigd at ${socketPath}: ${errno.code ?? errno.message}`);
    this.errno = errno;
  }
}

/** The connection was open and broke before the answer was complete: ERR_DAEMON_CONNECTION_LOST. */
class Lost extends Error {
  readonly why: unknown;
  constructor(socketPath: string, why: unknown) {
    super(socketPath);
    this.why = why;
  }
}

async function asBrigError(e: unknown): Promise<unknown> {
  if (!(e instanceof ApiFailure) && !(e instanceof Unreachable) && !(e instanceof Lost)) return e;
  if (e instanceof Lost) return (await import('../../client/client.ts')).connectionLost(e.message, e.why);
  const { BrigError, brigErrorFromJSON } = await import('../../errors/errors.ts');
  if (e instanceof Unreachable) return new BrigError('ERR_DAEMON_UNAVAILABLE', e.message, { cause: e.errno });
  return brigErrorFromJSON(e.body);
}

/** The socket path from --host or BRIG_HOST, as socketFromHost (src/client/client.ts) reads it. */
async function socketPath(host: string | undefined): Promise<string> {
  if (!host) return '/var/run/brig.sock';
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  return (await import('../../client/client.ts')).socketFromHost(host); // throws the usual error
}

async function run(p: FastRegistryCommand): Promise<void> {
  const sock = await socketPath(p.host ?? process.env.BRIG_HOST);
  const body =
    p.verb === 'push'
      ? { image: p.name }
      : {
          reference: p.name,
          ...(p.platform !== undefined ? { platform: p.platform } : {}),
          ...(p.unpack ? {} : { unpack: false }),
        };
  // the request leaves before the progress display is loaded
  const answer = ndjsonRequest(sock, `/registry/${p.verb}`, body);
  const display = p.quiet
    ? undefined
    : (await import('./registry-progress.ts')).progressDisplay(
        p.verb === 'push' ? 'Uploading' : 'Downloading',
      );
  let result: unknown;
  try {
    for await (const l of answer) {
      const line = l as { progress?: ProgressEvent; result?: unknown };
      if (line.progress && display) display.update(line.progress);
      if (line.result !== undefined) result = line.result;
    }
  } finally {
    display?.stop();
  }
  if (result === undefined) throw new Error('brigd ended the stream without a result');
  process.stdout.write(
    p.verb === 'push'
      ? pushedText(result as PushSummary, p.quiet)
      : pulledText(result as PullSummary, p.quiet),
  );
}

/**
 * POSTs `body` as JSON on a fresh connection to brigd's socket and yields the answer's NDJSON
 * lines. The request is written at once (before the first `next()`).
 */
export function ndjsonRequest(socketPath: string, path: string, body: unknown): AsyncGenerator<unknown> {
  const payload = Buffer.from(JSON.stringify(body));
  const sock = connect(socketPath);
  sock.write(
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${payload.length}\r\nConnection: close\r\n\r\n`,
  );
  sock.write(payload);
  // what arrives is queued until the generator reads it
  const queue: unknown[] = [];
  let failure: unknown;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const errorBody: Buffer[] = [];
  let started = false;
  let pending: Buffer = Buffer.alloc(0);
  const reader: HttpResponseReader = new HttpResponseReader((b) => {
    if (reader.status >= 400) {
      errorBody.push(b);
      return;
    }
    pending = pending.length ? Buffer.concat([pending, b]) : b;
    let i: number;
    while ((i = pending.indexOf(10)) >= 0) {
      const line = pending.subarray(0, i).toString('utf8');
      pending = pending.subarray(i + 1);
      if (line.trim()) queue.push(JSON.parse(line));
    }
  });
  sock.on('data', (b: Buffer) => {
    started = true;
    try {
      reader.feed(b);
      if (reader.done) sock.destroy();
    } catch (e) {
      failure ??= e;
      sock.destroy();
    }
    notify();
  });
  let connected = false;
  sock.once('connect', () => {
    connected = true;
  });
  sock.on('error', (e: NodeJS.ErrnoException) => {
    failure ??= connected ? new Lost(socketPath, e) : new Unreachable(socketPath, e);
    notify();
  });
  sock.on('close', () => {
    ended = true;
    try {
      if (!failure && !reader.done) {
        if (!started) throw new Lost(socketPath, undefined);
        reader.end();
      }
    } catch (e) {
      failure = e instanceof Lost ? e : new Lost(socketPath, e);
    }
    notify();
  });
  return (async function* () {
    for (;;) {
      while (queue.length) {
        const v = queue.shift() as { error?: ApiFailure['body'] };
        if (v && typeof v === 'object' && v.error && Object.keys(v).length === 1)
          throw new ApiFailure(v.error);
        yield v;
      }
      if (failure) throw failure;
      if (reader.status >= 400 && (reader.done || ended))
        throw apiFailure(reader.status, Buffer.concat(errorBody));
      if (ended || reader.done) return;
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  })();
}

function apiFailure(status: number, body: Buffer): ApiFailure {
  try {
    const j = JSON.parse(body.toString('utf8')) as { error?: ApiFailure['body'] };
    if (j.error) return new ApiFailure(j.error);
  } catch {}
  return new ApiFailure({
    code: 'ERR_INTERNAL',
    message: `brigd answered ${status}: ${body.toString('utf8').slice(0, 200)}`,
  });
}

/**
 * An HTTP/1.1 response, fed as it arrives: the status line and headers, then the body by
 * Content-Length, chunked transfer coding, or up to the end of the connection. `onBody` gets the
 * body's bytes; `done` is set when the body is complete. Malformed input throws.
 */
export class HttpResponseReader {
  status = 0;
  readonly headers: Record<string, string> = {};
  done = false;
  readonly #onBody: (b: Buffer) => void;
  #mode: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'close' = 'head';
  #buf: Buffer = Buffer.alloc(0);
  #left = 0;

  constructor(onBody: (b: Buffer) => void) {
    this.#onBody = onBody;
  }

  feed(b: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, b]) : b;
    while (this.#buf.length && !this.done) if (!this.#step()) break;
  }

  /** The connection ended. */
  end(): void {
    if (this.#mode === 'close') this.done = true;
    if (!this.done) throw new Error('brigd closed the connection in the middle of its answer');
  }

  /** Consumes what it can from #buf; false when more input is needed. */
  #step(): boolean {
    switch (this.#mode) {
      case 'head': {
        const end = this.#buf.indexOf('\r\n\r\n');
        if (end < 0) return false;
        const lines = this.#buf.subarray(0, end).toString('latin1').split('\r\n');
        this.#buf = this.#buf.subarray(end + 4);
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
        if (!m) throw new Error('brigd sent something that is not an HTTP answer');
        this.status = Number(m[1]);
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          if (c > 0) this.headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
        }
        if (this.status === 100) {
          this.#mode = 'head';
          return true;
        }
        if (/\bchunked\b/i.test(this.headers['transfer-encoding'] ?? '')) this.#mode = 'chunk-size';
        else if (this.headers['content-length'] !== undefined) {
          this.#left = Number(this.headers['content-length']);
          if (!Number.isSafeInteger(this.#left) || this.#left < 0) throw new Error('bad Content-Length');
          this.#mode = 'length';
          if (this.#left === 0) this.done = true;
        } else if (this.status === 204 || this.status === 304) this.done = true;
        else this.#mode = 'close';
        return true;
      }
      case 'length':
      case 'chunk-data': {
        const n = Math.min(this.#left, this.#buf.length);
        if (n > 0) this.#onBody(this.#buf.subarray(0, n));
        this.#buf = this.#buf.subarray(n);
        this.#left -= n;
        if (this.#left > 0) return false;
        if (this.#mode === 'length') this.done = true;
        else this.#mode = 'chunk-end';
        return true;
      }
      case 'chunk-size':
      case 'chunk-end':
      case 'trailer': {
        const nl = this.#buf.indexOf('\r\n');
        if (nl < 0) return false;
        const line = this.#buf.subarray(0, nl).toString('latin1');
        this.#buf = this.#buf.subarray(nl + 2);
        if (this.#mode === 'chunk-end') {
          if (line !== '') throw new Error('bad chunk ending');
          this.#mode = 'chunk-size';
        } else if (this.#mode === 'trailer') {
          if (line === '') this.done = true;
        } else {
          const size = Number.parseInt(line.split(';')[0]!.trim(), 16);
          if (!/^[0-9a-fA-F]+$/.test(line.split(';')[0]!.trim()) || !Number.isSafeInteger(size))
            throw new Error('bad chunk size');
          if (size === 0) this.#mode = 'trailer';
          else {
            this.#left = size;
            this.#mode = 'chunk-data';
          }
        }
        return true;
      }
      case 'close':
        this.#onBody(this.#buf);
        this.#buf = Buffer.alloc(0);
        return false;
    }
  }
}

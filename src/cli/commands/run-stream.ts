/**
 * `brig run`'s one round trip (`UPGRADE /containers/run`, docs/api.md) written on a plain socket,
 * without node's http client: loading node:http (and with it brig's BrigClient) is ~2-4 ms of the
 * CLI's start (bench/README.md, "Container run"). It answers as BrigClient.upgrade
 * (src/client/client.ts) does:
 *   - 101: resolves with the socket and the bytes that came after the answer's head (frames);
 *   - 400 or more: rejects with the daemon's error (its `{"error": ...}` body);
 *   - nothing listening: ERR_DAEMON_UNAVAILABLE; a connection that was open and closed or broke
 *     before the head came: ERR_DAEMON_CONNECTION_LOST.
 * The error module and the HTTP body reader are loaded only when something failed.
 */
import { connect, type Socket } from 'node:net';

/** Opens the run stream of `body` (the create body) on brigd's socket. */
export function openRunStream(socketPath: string, body: unknown): Promise<{ socket: Socket; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    // the same query BrigClient sends (URLSearchParams decodes %20 and + alike)
    sock.write(
      `POST /containers/run?config=${encodeURIComponent(JSON.stringify(body))} HTTP/1.1\r\n` +
        'Host: localhost\r\nConnection: Upgrade\r\nUpgrade: brig-stream\r\n\r\n',
    );
    let connected = false;
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    // (a thunk: the error is made only by the first failure; 'close' follows every 'error')
    const fail = (e: () => Promise<unknown>) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      e().then(reject, reject);
    };
    const onData = (b: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, b]) : b;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, end).toString('latin1'))?.[1]);
      if (status === 101) {
        settled = true;
        sock.off('data', onData);
        sock.off('close', onClose);
        sock.off('error', onError);
        resolve({ socket: sock, head: buf.subarray(end + 4) });
        return;
      }
      // an error answer: read it whole (by its framing), then decode it as BrigClient does
      sock.off('data', onData);
      sock.off('close', onClose);
      settled = true;
      const all = buf;
      readAnswer(sock, all).then(
        (a) => decodeError(a.status, a.body).then(reject, reject),
        (e: unknown) => lost(socketPath, e).then(reject, reject),
      );
    };
    const onClose = () => fail(() => lost(socketPath, undefined));
    const onError = (e: NodeJS.ErrnoException) =>
      fail(() => (connected ? lost(socketPath, e) : unreachable(socketPath, e)));
    sock.once('connect', () => {
      connected = true;
    });
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.on('error', onError);
  });
}

/**
 * The status and the whole body of a non-101 answer whose first bytes are `first`. What arrives
 * (and the end of the connection) is taken at once, before the reader's module is loaded: a
 * socket in flowing mode drops data nobody listens to.
 */
async function readAnswer(sock: Socket, first: Buffer): Promise<{ status: number; body: Buffer }> {
  const chunks: Buffer[] = [first];
  let closed = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  sock.on('data', (b: Buffer) => {
    chunks.push(b);
    wake?.();
  });
  sock.on('error', (e) => {
    failure ??= e;
  });
  sock.on('close', () => {
    closed = true;
    wake?.();
  });
  const { HttpResponseReader } = await import('./registry-fast.ts');
  const body: Buffer[] = [];
  const reader = new HttpResponseReader((b) => body.push(b));
  try {
    for (;;) {
      for (const b of chunks.splice(0)) if (!reader.done) reader.feed(b);
      if (reader.done) break;
      if (closed) {
        if (failure) throw failure;
        reader.end(); // throws when the answer is incomplete
        break;
      }
      await new Promise<void>((r) => {
        wake = r;
      });
    }
  } finally {
    sock.destroy();
  }
  return { status: reader.status, body: Buffer.concat(body) };
}

/** The daemon's error from an answer's body, as BrigClient decodes it. */
async function decodeError(status: number, body: Buffer): Promise<Error> {
  return (await import('../../errors/errors.ts')).brigErrorFromAnswer(status, body);
}

async function lost(socketPath: string, e: unknown): Promise<never> {
  throw (await import('../../client/client.ts')).connectionLost(socketPath, e);
}

async function unreachable(socketPath: string, e: NodeJS.ErrnoException): Promise<never> {
  const { BrigError } = await import('../../errors/errors.ts');
  throw new BrigError(
    'ERR_DAEMON_UNAVAILABLE',
    `cannot reach brigd at ${socketPath}: ${e.code ?? e.message}`,
    {
      cause: e,
    },
  );
}

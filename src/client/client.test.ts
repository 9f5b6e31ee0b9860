/**
 * BrigClient tells a brigd it could not reach (ERR_DAEMON_UNAVAILABLE) from one that took the
 * request and then closed or reset the connection before the whole answer came
 * (ERR_DAEMON_CONNECTION_LOST). brigd is played by a server on a unix socket.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { BrigClient } from './client.ts';

/** A server that, once a request's head has arrived, does `act` with the socket. */
async function fakeDaemon(t: TestContext, act: (s: Socket) => void): Promise<string> {
  const sock = join(tempDir(t), 'brigd.sock');
  const server = createServer((s) => {
    let buf = '';
    s.on('data', (b) => {
      buf += b;
      if (buf.includes('\r\n\r\n')) act(s);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(sock, r));
  t.after(() => server.close());
  return sock;
}

const code = (c: string) => (e: unknown) => isBrigError(e) && e.code === c;

test('no socket: ERR_DAEMON_UNAVAILABLE', async (t) => {
  const c = new BrigClient(join(tempDir(t), 'nobody.sock'));
  await assert.rejects(c.request('GET', '/images'), code('ERR_DAEMON_UNAVAILABLE'));
});

test('a connection closed before any answer: ERR_DAEMON_CONNECTION_LOST', async (t) => {
  const closed = new BrigClient(await fakeDaemon(t, (s) => s.end()));
  await assert.rejects(
    closed.request('POST', '/images/import', { body: {} }),
    code('ERR_DAEMON_CONNECTION_LOST'),
  );
  const destroyed = new BrigClient(await fakeDaemon(t, (s) => s.destroy()));
  await assert.rejects(destroyed.request('GET', '/images'), code('ERR_DAEMON_CONNECTION_LOST'));
});

test('a connection closed in the middle of the answer: ERR_DAEMON_CONNECTION_LOST', async (t) => {
  // a JSON body shorter than its Content-Length
  const json = new BrigClient(
    await fakeDaemon(t, (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"id"');
      setTimeout(() => s.destroy(), 20);
    }),
  );
  await assert.rejects(json.request('GET', '/images'), code('ERR_DAEMON_CONNECTION_LOST'));
  // an NDJSON stream (chunked) cut after its first line
  const lines = new BrigClient(
    await fakeDaemon(t, (s) => {
      const line = '{"progress":1}\n';
      s.write(
        `HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n${line.length.toString(16)}\r\n${line}\r\n`,
      );
      setTimeout(() => s.destroy(), 20);
    }),
  );
  const seen: unknown[] = [];
  await assert.rejects(async () => {
    for await (const l of lines.lines('POST', '/registry/pull', { body: {} })) seen.push(l);
  }, code('ERR_DAEMON_CONNECTION_LOST'));
  assert.deepEqual(seen, [{ progress: 1 }]);
  // an error answer cut short
  const failure = new BrigClient(
    await fakeDaemon(t, (s) => {
      s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 50\r\n\r\n{"error"');
      setTimeout(() => s.destroy(), 20);
    }),
  );
  await assert.rejects(failure.request('GET', '/images/x/json'), code('ERR_DAEMON_CONNECTION_LOST'));
});

import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../../test/support/tmp.ts';
import { frame } from '../../client/containers.ts';
import { isBrigError } from '../../errors/errors.ts';
import { openRunStream } from './run-stream.ts';

/** A stand-in brigd that hands every request's raw head to `answer`. */
async function server(t: import('node:test').TestContext, answer: (s: Socket, head: string) => void) {
  const path = join(tempDir(t), 'brigd.sock');
  const open = new Set<Socket>();
  const srv = createServer((s) => {
    open.add(s);
    s.on('error', () => {});
    let got = '';
    s.on('data', (b) => {
      got += b.toString('latin1');
      if (got.includes('\r\n\r\n')) answer(s, got);
    });
  });
  await new Promise<void>((r) => srv.listen(path, r));
  t.after(() => {
    for (const s of open) s.destroy();
    srv.close();
  });
  return path;
}

test('101: the socket and the bytes after the head; the body goes in the query, decoded as the daemon decodes it', async (t) => {
  let head = '';
  const path = await server(t, (s, h) => {
    head = h;
    s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: brig-stream\r\n\r\n`);
    s.write(frame(4, '{"exitCode":3}'));
  });
  const body = { image: 'busybox', command: ['sh', '-c', 'echo a+b & 100%'], autoRemove: true };
  const { socket, head: rest } = await openRunStream(path, body);
  t.after(() => socket.destroy());
  const line = head.split('\r\n')[0]!;
  assert.match(line, /^POST \/containers\/run\?config=\S+ HTTP\/1\.1$/);
  const q = new URL(`http://x${line.split(' ')[1]}`).searchParams;
  assert.deepEqual(JSON.parse(q.get('config')!), body);
  assert.match(head, /\r\nUpgrade: brig-stream\r\n/i);
  assert.match(head, /\r\nHost: /i);
  const more: Buffer[] = rest.length ? [rest] : [];
  if (!more.length) await new Promise<void>((r) => socket.once('data', (b: Buffer) => r(void more.push(b))));
  assert.deepEqual(Buffer.concat(more), frame(4, '{"exitCode":3}'));
});

test("an error answer (Content-Length or chunked) is the daemon's error", async (t) => {
  const err = JSON.stringify({ error: { code: 'ERR_IMAGE_NOT_FOUND', message: 'no such image' } });
  for (const chunked of [false, true]) {
    const path = await server(t, (s) =>
      s.end(
        chunked
          ? `HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n${err.length.toString(16)}\r\n${err}\r\n0\r\n\r\n`
          : `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${err.length}\r\n\r\n${err}`,
      ),
    );
    await assert.rejects(openRunStream(path, {}), (e) => isBrigError(e, 'ERR_IMAGE_NOT_FOUND'));
  }
});

test('nothing listening: ERR_DAEMON_UNAVAILABLE; closed before the head: ERR_DAEMON_CONNECTION_LOST', async (t) => {
  await assert.rejects(openRunStream(join(tempDir(t), 'none.sock'), {}), (e) =>
    isBrigError(e, 'ERR_DAEMON_UNAVAILABLE'),
  );
  const path = await server(t, (s) => s.destroy());
  await assert.rejects(openRunStream(path, {}), (e) => isBrigError(e, 'ERR_DAEMON_CONNECTION_LOST'));
  const half = await server(t, (s) => s.end('HTTP/1.1 500 X\r\nContent-Length: 100\r\n\r\n{"err'));
  await assert.rejects(openRunStream(half, {}), (e) => isBrigError(e, 'ERR_DAEMON_CONNECTION_LOST'));
});

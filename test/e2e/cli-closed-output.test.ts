/**
 * brig's output going nowhere, and brigd going away mid-request, through both CLI entries
 * (dist/brig.cjs, the installed one, and dist/brig.mjs), the fast paths and the full program.
 *   - A reader that closed its end of the pipe (`brig images | head -1`): brig ends as docker and
 *     podman do, killed by SIGPIPE (a shell sees 141), with nothing on stderr; never a stack trace.
 *   - A connection brigd closes after taking the request: ERR_DAEMON_CONNECTION_LOST ("closed the
 *     connection before answering"), not "cannot reach brigd".
 * brigd is played by a small server on a unix socket.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { childEnv, outputOf, PROJECT } from '../support/daemon.ts';
import { onRequest } from '../support/fake-brigd.ts';
import { tempDir } from '../support/tmp.ts';

const ENTRIES = [join(PROJECT, 'dist/brig.cjs'), join(PROJECT, 'dist/brig.mjs')];

const http = (status: number, type: string, body: string, close = true) =>
  `HTTP/1.1 ${status} X\r\nContent-Type: ${type}\r\n${close ? `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n` : 'Transfer-Encoding: chunked\r\n'}\r\n${close ? body : `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`}`;

const IMAGE = {
  id: `sha256:${'ab'.repeat(32)}`,
  names: ['docker.io/library/busybox:1'],
  manifestDigest: `sha256:${'cd'.repeat(32)}`,
  size: 1000,
  platform: 'linux/amd64',
};
const EVENT = {
  time: Date.now(),
  type: 'image',
  action: 'tag',
  actorId: IMAGE.id,
  attributes: { name: 'x' },
};

/** A fake brigd: `/images` lists one image; `/events` streams one event and stays open; `/registry/pull` answers; a request with `lost` in its path or body is dropped unanswered. */
async function fakeDaemon(sock: string): Promise<{ close: () => void }> {
  const open = new Set<Socket>();
  const server = createServer((s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    onRequest(s, ({ path, raw }) => {
      if (raw.includes('lost')) s.destroy();
      else if (path.startsWith('/images')) s.end(http(200, 'application/json', JSON.stringify([IMAGE])));
      else if (path.startsWith('/events'))
        s.write(http(200, 'application/x-ndjson', `${JSON.stringify(EVENT)}\n`, false));
      else if (path.startsWith('/registry/pull'))
        s.end(
          http(
            200,
            'application/x-ndjson',
            `${JSON.stringify({ result: { name: 'r.test/ok:1', manifestDigest: IMAGE.manifestDigest, platform: 'linux/amd64' } })}\n`,
          ),
        );
      else s.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    close: () => {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

test('a closed stdout ends brig quietly, as SIGPIPE ends docker', async (t) => {
  assert.ok(ENTRIES.every(existsSync), 'dist/ is missing: run `npm run build` first');
  const sock = join(tempDir(t), 'brigd.sock');
  const d = await fakeDaemon(sock);
  t.after(d.close);
  const h = ['-H', `unix://${sock}`];
  for (const entry of ENTRIES) {
    for (const args of [
      [...h, 'images'], // the full program, a listing
      [...h, 'images', '--json'],
      [...h, 'events', '--since', '0'], // a stream that stays open
      [...h, 'pull', '-q', 'r.test/ok:1'], // the fast path of the CommonJS entry
      ['--version'], // answered by the entry itself
    ]) {
      const child = spawn(process.execPath, [entry, ...args], {
        env: childEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.destroy(); // the reader goes away before brig writes anything
      const signal = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
      const r = await outputOf(child);
      const what = `${entry} ${args.join(' ')}`;
      assert.equal(r.stderr, '', what);
      // killed by SIGPIPE (141 in a shell); 141 itself should the signal not end it
      assert.ok((await signal) === 'SIGPIPE' || r.code === 141, `${what}: status ${r.code}`);
    }
  }
});

test('brigd closing the connection mid-request is not "cannot reach brigd"', async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'brigd.sock');
  const d = await fakeDaemon(sock);
  t.after(d.close);
  for (const entry of ENTRIES) {
    for (const args of [
      ['image', 'inspect', 'lost'], // the full program (node:http)
      ['pull', '-q', 'r.test/lost:1'], // the fast path (its own HTTP reader)
    ]) {
      const what = `${entry} ${args.join(' ')}`;
      const r = await outputOf(
        spawn(process.execPath, [entry, '-H', `unix://${sock}`, ...args], {
          env: childEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      assert.equal(r.code, 125, what);
      assert.match(
        r.stderr,
        /^Error: brigd at .* closed the connection before answering.*\nHint: Look at brigd/,
        what,
      );
      // nothing listening: still "cannot reach"
      const none = await outputOf(
        spawn(process.execPath, [entry, '-H', `unix://${join(dir, 'nobody.sock')}`, ...args], {
          env: childEnv(),
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      assert.equal(none.code, 125, what);
      assert.match(none.stderr, /^Error: cannot reach brigd at /, what);
    }
  }
});

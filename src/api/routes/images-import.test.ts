/**
 * POST /images/import over a real Unix socket, with a stand-in ImageService that records what it
 * was asked and waits until its signal aborts:
 *   - the archive as the body reaches the service as a file under ROOT/import/ with the same
 *     bytes, and the file is gone once the import ends (cancelled or not);
 *   - a client that closes the connection while the service works aborts the service's signal
 *     with ERR_REQUEST_CANCELLED, in both forms (a path in JSON, the archive as the body).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { type ClientRequest, request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../../test/support/tmp.ts';
import type { Services } from '../../daemon/services.ts';
import { isBrigError } from '../../errors/errors.ts';
import type { ImageService, ImportOptions } from '../../images/image-service.ts';
import { Router } from '../router.ts';
import { serve } from '../server.ts';
import { register } from './images.ts';

interface Call {
  source: string;
  opts: ImportOptions;
  bytes?: Buffer;
  aborted: Promise<unknown>;
}

async function setup(t: import('node:test').TestContext) {
  const root = tempDir(t);
  const socket = join(root, 'api.sock');
  const calls: Call[] = [];
  let arrived!: () => void;
  const called = new Promise<void>((r) => {
    arrived = r;
  });
  const images = {
    import(source: string, opts: ImportOptions = {}) {
      const aborted = new Promise<unknown>((resolve) => {
        if (!opts.signal) resolve('no signal given');
        if (opts.signal?.aborted) resolve(opts.signal.reason);
        opts.signal?.addEventListener('abort', () => resolve(opts.signal!.reason), { once: true });
      });
      calls.push({
        source,
        opts,
        aborted,
        ...(source.startsWith(join(root, 'import')) ? { bytes: readFileSync(source) } : {}),
      });
      arrived();
      // works until cancelled, then fails as a cancelled import does
      return aborted.then((reason) => Promise.reject(reason));
    },
  } as unknown as ImageService;
  const r = new Router();
  register(r, { images, paths: { root } } as unknown as Services);
  const server = await serve(r, { socketPath: socket });
  t.after(() => new Promise<void>((res) => server.close(() => res())));
  return { root, socket, calls, called };
}

/** The request, and a promise that fails if brigd answers (the stand-in never lets it). */
function send(
  socket: string,
  path: string,
  type: string,
  body: Buffer,
): { req: ClientRequest; answered: Promise<never> } {
  const req = request({ socketPath: socket, method: 'POST', path, headers: { 'content-type': type } });
  req.on('error', () => {}); // destroyed by the test
  const answered = new Promise<never>((_, reject) => {
    req.on('response', (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => reject(new Error(`answered before the import was cancelled: ${b}`)));
    });
  });
  answered.catch(() => {});
  req.end(body);
  return { req, answered };
}

test('an archive body reaches the import as a private file; a closed connection cancels it', async (t) => {
  const s = await setup(t);
  const archive = Buffer.from('not really a tar, the stand-in does not care\n'.repeat(1000));
  const { req, answered } = send(s.socket, '/images/import?name=app%3A1&ref=x', 'application/x-tar', archive);
  await Promise.race([s.called, answered]);
  const call = s.calls[0]!;
  assert.ok(call.source.startsWith(join(s.root, 'import', 'upload-')), call.source);
  assert.deepEqual(call.bytes, archive);
  assert.equal(call.opts.name, 'app:1');
  assert.equal(call.opts.ref, 'x');
  req.destroy();
  const reason = await call.aborted;
  assert.ok(isBrigError(reason, 'ERR_REQUEST_CANCELLED'), String(reason));
  for (let i = 0; i < 100 && readdirSync(join(s.root, 'import')).length > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(readdirSync(join(s.root, 'import')), []);
});

test('a closed connection cancels an import of a path', async (t) => {
  const s = await setup(t);
  const { req, answered } = send(
    s.socket,
    '/images/import',
    'application/json',
    Buffer.from(JSON.stringify({ source: '/srv/image.tar' })),
  );
  await Promise.race([s.called, answered]);
  assert.equal(s.calls[0]!.source, '/srv/image.tar');
  req.destroy();
  assert.ok(isBrigError(await s.calls[0]!.aborted, 'ERR_REQUEST_CANCELLED'));
  assert.equal(existsSync(join(s.root, 'import')), false, 'a path import uploads nothing');
});

/**
 * The API framework end to end over a real Unix socket: routing, parameters, bodies, statuses,
 * the error envelope and its mapping by kind, streams, and the client turning errors back into
 * BrigErrors with the daemon's code.
 */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { BrigClient } from '../client/client.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { created, noContent, Router, STREAMED } from './router.ts';
import { serve } from './server.ts';

function raw(socketPath: string, method: string, path: string, body?: string) {
  return new Promise<{ status: number; body: string }>((res, rej) => {
    const r = request({ socketPath, method, path, headers: { 'content-type': 'application/json' } }, (m) => {
      let b = '';
      m.on('data', (c) => (b += c));
      m.on('end', () => res({ status: m.statusCode ?? 0, body: b }));
    });
    r.on('error', rej);
    r.end(body);
  });
}

test('routes, parameters, bodies, statuses and the error envelope over a Unix socket', async (t) => {
  const dir = tempDir(t);
  const socket = join(dir, 'api.sock');
  const r = new Router();
  r.get('/things/:name', (req) => ({ name: req.params.name, q: req.query.get('q') }));
  r.post('/things', async (req) => created(await req.json<{ a: number }>()));
  r.delete('/things/:name', () => noContent);
  r.get('/missing', () => {
    throw new BrigError('ERR_IMAGE_NOT_FOUND', 'no such image x');
  });
  r.get('/conflict', () => {
    throw new BrigError('ERR_DAEMON_RUNNING', 'busy');
  });
  r.get('/crash', () => {
    throw new Error('boom');
  });
  r.get('/stream', (req) => {
    req.res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    req.res.write('{"n":1}\n');
    throw new BrigError('ERR_INTERNAL', 'failed half-way');
  });
  r.get('/streamed', (req) => {
    req.res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    req.res.end('{"n":1}\n{"n":2}\n');
    return STREAMED;
  });
  const server = await serve(r, { socketPath: socket });
  t.after(() => new Promise<void>((res) => server.close(() => res())));
  assert.equal(statSync(socket).mode & 0o777, 0o660);
  const client = new BrigClient(socket);

  // a name with '/' and ':' travels as one percent-encoded segment
  const name = 'example.org:5000/a/b:tag';
  assert.deepEqual(
    await client.request('GET', `/things/${encodeURIComponent(name)}`, { query: { q: 'x y' } }),
    { name, q: 'x y' },
  );
  let res = await raw(socket, 'POST', '/things', '{"a":1}');
  assert.deepEqual([res.status, JSON.parse(res.body)], [201, { a: 1 }]);
  res = await raw(socket, 'DELETE', '/things/x');
  assert.deepEqual([res.status, res.body], [204, '']);

  const cases: Array<[string, string, string | undefined, number, string]> = [
    ['GET', '/missing', undefined, 404, 'ERR_IMAGE_NOT_FOUND'],
    ['GET', '/conflict', undefined, 412, 'ERR_DAEMON_RUNNING'],
    ['GET', '/crash', undefined, 500, 'ERR_INTERNAL'],
    ['GET', '/nowhere', undefined, 404, 'ERR_API_ROUTE'],
    ['PUT', '/things', undefined, 404, 'ERR_API_ROUTE'],
    ['POST', '/things', '{not json', 400, 'ERR_API_BODY'],
    ['GET', '/things/%zz', undefined, 400, 'ERR_INVALID_ARGUMENT'],
  ];
  for (const [method, path, body, status, code] of cases) {
    res = await raw(socket, method, path, body);
    const e = JSON.parse(res.body).error;
    assert.deepEqual([res.status, e.code], [status, code], `${method} ${path}`);
    assert.equal(typeof e.message, 'string');
    assert.equal(typeof e.kind, 'string');
  }
  // the client gives back the daemon's code, message and hint
  await assert.rejects(client.request('GET', '/missing'), (e) => {
    return isBrigError(e, 'ERR_IMAGE_NOT_FOUND') && e.message === 'no such image x' && !!e.hint;
  });
  // an error after a stream started is one last NDJSON line
  res = await raw(socket, 'GET', '/stream');
  const lines = res.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(res.status, 200);
  assert.deepEqual(lines[0], { n: 1 });
  assert.equal(lines.at(-1).error.code, 'ERR_INTERNAL');
  res = await raw(socket, 'GET', '/streamed');
  assert.deepEqual([res.status, res.body], [200, '{"n":1}\n{"n":2}\n']);
});

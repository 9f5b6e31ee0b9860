import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { RegistryHosts, registriesDefaults, resolveRegistries } from './config.ts';
import { RegistryTransport } from './transport.ts';

/** A plain-HTTP registry stand-in that counts the TLS handshakes it is offered. */
async function plainServer(t: import('node:test').TestContext) {
  const seen = { tls: 0, requests: 0 };
  const server = createServer((req, res) => {
    seen.requests++;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  server.on('connection', (sock) => {
    sock.once('data', (b: Buffer) => {
      if (b[0] === 0x16) seen.tls++; // a TLS record: handshake
    });
  });
  server.on('clientError', (_e, sock) => sock.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function transportFor(t: import('node:test').TestContext, insecure: string[]): RegistryTransport {
  const root = tempDir(t);
  const hosts = new RegistryHosts(
    resolveRegistries(
      { ...registriesDefaults, insecure, extraAuthFiles: [] },
      { root, configFile: join(root, 'brig.yaml') },
    ),
  );
  const tr = new RegistryTransport({ hosts, credentials: { get: async () => undefined } });
  t.after(() => tr.close());
  return tr;
}

test('requests sent at once to a new insecure host: one HTTPS attempt, then all go over plain HTTP', async (t) => {
  const srv = await plainServer(t);
  const tr = transportFor(t, [srv.host]);
  const [ep] = tr.hosts.endpoints(srv.host, 'push');
  const all = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      tr.send(ep!, { method: 'GET', path: `/v2/r${i}/tags/list`, scopes: [], ok: [200], what: `req ${i}` }),
    ),
  );
  for (const r of all) {
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  }
  assert.equal(srv.seen.tls, 1);
  assert.equal(srv.seen.requests, 6);
  // later requests know the answer
  const r = await tr.send(ep!, { method: 'GET', path: '/v2/', scopes: [], ok: [200], what: 'again' });
  await r.body.dump();
  assert.equal(srv.seen.tls, 1);
});

test('a host not listed as insecure is never tried over plain HTTP', async (t) => {
  const srv = await plainServer(t);
  const tr = transportFor(t, []);
  const [ep] = tr.hosts.endpoints(srv.host, 'pull');
  await assert.rejects(
    tr.send(ep!, { method: 'GET', path: '/v2/', scopes: [], ok: [200], what: 'api', retry: false }),
  );
  assert.equal(srv.seen.requests, 0);
  assert.ok(srv.seen.tls >= 1);
});

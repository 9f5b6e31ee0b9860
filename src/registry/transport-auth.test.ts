/**
 * The transport against a registry stand-in (plain HTTP on 127.0.0.1) with a bearer-token realm:
 * a cached token is reused; a token the registry refuses (revoked) or one past its expiry is
 * replaced; a second refusal is ERR_REGISTRY_UNAUTHORIZED without a loop. And how registry error
 * answers map to brig codes (DENIED and 403 -> ERR_REGISTRY_DENIED, ...).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { RegistryHosts, registriesDefaults, resolveRegistries } from './config.ts';
import { RegistryTransport, type SendRequest } from './transport.ts';

interface StandIn {
  host: string;
  /** Tokens the registry accepts; the token realm adds each token it issues. */
  accepted: Set<string>;
  issued: number;
  /** expires_in of the tokens issued from now on. */
  expiresIn: number;
  /** The registry refuses every token. */
  refuseAll: boolean;
  /** Registry requests (not the realm's): Authorization header and the status answered. */
  seen: { auth?: string; status: number }[];
}

async function standIn(t: TestContext): Promise<StandIn> {
  const s: StandIn = { host: '', accepted: new Set(), issued: 0, expiresIn: 300, refuseAll: false, seen: [] };
  const server = createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const token = `tok-${++s.issued}`;
      s.accepted.add(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, expires_in: s.expiresIn }));
      return;
    }
    const m = /^\/v2\/case\/(\d+)\/([A-Z_-]+)$/.exec(url.pathname);
    if (m) {
      // an error answer chosen by the path: /v2/case/STATUS/CODE ('-': no body)
      res.writeHead(Number(m[1]), { 'content-type': 'application/json' });
      res.end(m[2] === '-' ? '' : JSON.stringify({ errors: [{ code: m[2], message: 'as asked' }] }));
      return;
    }
    const auth = req.headers.authorization;
    const ok = !s.refuseAll && auth?.startsWith('Bearer ') && s.accepted.has(auth.slice(7));
    s.seen.push({ ...(auth ? { auth } : {}), status: ok ? 200 : 401 });
    if (ok) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    res.writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': `Bearer realm="http://${s.host}/token",service="stand-in",scope="repository:r:pull"`,
    });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token needed' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  s.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return s;
}

function transportFor(t: TestContext, host: string): RegistryTransport {
  const root = tempDir(t);
  const hosts = new RegistryHosts(
    resolveRegistries(
      { ...registriesDefaults, insecure: [host], extraAuthFiles: [] },
      { root, configFile: join(root, 'brig.yaml') },
    ),
  );
  const tr = new RegistryTransport({ hosts, credentials: { get: async () => undefined } });
  t.after(() => tr.close());
  return tr;
}

const manifestGet: SendRequest = {
  method: 'GET',
  path: '/v2/r/manifests/1',
  scopes: ['repository:r:pull'],
  ok: [200],
  what: 'manifest',
};

async function get(tr: RegistryTransport, host: string, req: SendRequest = manifestGet): Promise<number> {
  const [ep] = tr.hosts.endpoints(host, 'pull');
  const res = await tr.send(ep!, req);
  await res.body.dump();
  return res.statusCode;
}

test('a cached bearer token is reused; a refused or expired one is replaced', async (t) => {
  const s = await standIn(t);
  const tr = transportFor(t, s.host);

  // first request: challenge, token 1
  assert.equal(await get(tr, s.host), 200);
  assert.deepEqual(s.seen, [{ status: 401 }, { auth: 'Bearer tok-1', status: 200 }]);
  // cached: no new token, no challenge
  s.seen.length = 0;
  assert.equal(await get(tr, s.host), 200);
  assert.deepEqual(s.seen, [{ auth: 'Bearer tok-1', status: 200 }]);
  assert.equal(s.issued, 1);

  // the registry no longer accepts token 1: refused once, replaced by token 2
  s.accepted.clear();
  s.seen.length = 0;
  assert.equal(await get(tr, s.host), 200);
  assert.deepEqual(s.seen, [
    { auth: 'Bearer tok-1', status: 401 },
    { auth: 'Bearer tok-2', status: 200 },
  ]);

  // a token that expires (expires_in 11 s, kept 10 s less) is replaced before it is sent
  s.accepted.clear();
  s.expiresIn = 11;
  assert.equal(await get(tr, s.host), 200); // token 3, good for 1 s
  await sleep(1100);
  s.expiresIn = 300;
  s.seen.length = 0;
  assert.equal(await get(tr, s.host), 200);
  assert.deepEqual(s.seen, [{ auth: 'Bearer tok-4', status: 200 }]);
});

test('a fresh token refused again is ERR_REGISTRY_UNAUTHORIZED after one retry', async (t) => {
  const s = await standIn(t);
  const tr = transportFor(t, s.host);
  s.refuseAll = true;
  const [ep] = tr.hosts.endpoints(s.host, 'pull');
  await assert.rejects(tr.send(ep!, manifestGet), (e) => isBrigError(e, 'ERR_REGISTRY_UNAUTHORIZED'));
  assert.deepEqual(s.seen, [{ status: 401 }, { auth: 'Bearer tok-1', status: 401 }]);
});

test('registry error answers map to brig codes', async (t) => {
  const s = await standIn(t);
  const tr = transportFor(t, s.host);
  const [ep] = tr.hosts.endpoints(s.host, 'pull');
  const cases: [number, string, string, 'GET' | 'HEAD'][] = [
    [403, 'DENIED', 'ERR_REGISTRY_DENIED', 'GET'],
    [403, '-', 'ERR_REGISTRY_DENIED', 'GET'],
    [403, '-', 'ERR_REGISTRY_DENIED', 'HEAD'],
    [404, 'NAME_UNKNOWN', 'ERR_REGISTRY_NOT_FOUND', 'GET'],
    [404, 'BLOB_UNKNOWN', 'ERR_REGISTRY_NOT_FOUND', 'GET'],
    [404, '-', 'ERR_REGISTRY_NOT_FOUND', 'HEAD'],
    [400, 'MANIFEST_INVALID', 'ERR_REGISTRY_REJECTED', 'GET'],
    [400, 'DIGEST_INVALID', 'ERR_REGISTRY_REJECTED', 'GET'],
    [416, '-', 'ERR_REGISTRY_REJECTED', 'GET'],
    [405, 'UNSUPPORTED', 'ERR_REGISTRY_PROTOCOL', 'GET'],
    [418, '-', 'ERR_REGISTRY_PROTOCOL', 'GET'],
    [429, 'TOOMANYREQUESTS', 'ERR_REGISTRY_TOO_MANY_REQUESTS', 'GET'],
    [500, 'SOMETHING_NEW', 'ERR_REGISTRY_UNAVAILABLE', 'GET'],
    [503, '-', 'ERR_REGISTRY_UNAVAILABLE', 'GET'],
  ];
  for (const [status, code, expected, method] of cases) {
    const req: SendRequest = {
      method,
      path: `/v2/case/${status}/${code}`,
      scopes: [],
      ok: [200],
      what: 'case',
      repository: 'r',
      retry: false,
    };
    await assert.rejects(
      tr.send(ep!, req),
      (e: Error & { code?: string; details?: Record<string, unknown> }) => {
        assert.equal(e.code, expected, `${method} ${status} ${code}`);
        assert.equal(e.details?.status, status);
        if (code !== '-' && method === 'GET') assert.equal(e.details?.registryCode, code);
        return true;
      },
    );
  }
});

/**
 * Test servers for registry tests: Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1
 * with a random port, a throw-away CA and server certificate (openssl), htpasswd users (bcrypt),
 * and a bearer-token server issuing the JWTs distribution's token auth verifies (RS256, the
 * signing certificate in the `x5c` header, chained to the registry's `rootcertbundle`).
 * Everything lives in the test's temp dir and is stopped in `t.after`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { LocalContentStore } from '../../src/content/local-store.ts';
import type { ContentStore } from '../../src/content/store.ts';
import { openDatabase } from '../../src/metadata/db.ts';
import {
  type RegistriesConfig,
  RegistryHosts,
  registriesDefaults,
  resolveRegistries,
} from '../../src/registry/config.ts';
import { CredentialStore } from '../../src/registry/credentials.ts';
import { Registry } from '../../src/registry/registry.ts';
import { fixtureScript } from './busybox.ts';
import { tempDir } from './tmp.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
}

/** A new RSA key (`keyOut`) and a certificate for it signed by itself (`certOut`), valid two days. */
function selfSigned(subject: string, keyOut: string, certOut: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      subject,
      '-keyout',
      keyOut,
      '-out',
      certOut,
    ],
    { stdio: 'pipe' },
  );
}

/** A CA and a server certificate for 127.0.0.1/localhost signed by it. */
export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  const p = (n: string) => join(dir, n);
  const ossl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  selfSigned('/CN=brig test CA', p('ca.key'), p('ca.crt'));
  ossl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
  ]);
  writeFileSync(
    p('ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  ossl([
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('server.crt'),
  ]);
  return { dir, caCert: p('ca.crt'), serverCert: p('server.crt'), serverKey: p('server.key') };
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** Certificate bundle the registry trusts for token signatures. */
  rootCertBundle: string;
  /** Every token request seen (query + whether credentials were right), for assertions. */
  requests: { scope: string[]; account?: string; authorized: boolean }[];
  server: Server;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * A token server: anonymous callers get `pull` on every repository; callers with valid basic
 * credentials get what they ask for; wrong credentials get 401.
 */
export async function startTokenServer(
  t: TestContext,
  dir: string,
  users: Record<string, string>,
): Promise<TokenServer> {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'token.key');
  const crt = join(dir, 'token.crt');
  selfSigned('/CN=brig test token issuer', key, crt);
  const keyPem = readFileSync(key, 'utf8');
  const certDer = readFileSync(crt, 'utf8')
    .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
    .replace(/\s+/g, '');
  const service = 'brig-test-registry';
  const issuer = 'brig-test-issuer';
  const requests: TokenServer['requests'] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter(Boolean);
    let account: string | undefined;
    let authorized = false;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      account = u;
      authorized = u !== undefined && users[u] !== undefined && users[u] === rest.join(':');
      if (!authorized) {
        requests.push({ scope: scopes, account, authorized });
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
    }
    requests.push({ scope: scopes, ...(account ? { account } : {}), authorized });
    const access = scopes.flatMap((s) => {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m) return [];
      const wanted = m[2]!.split(',');
      const actions = authorized ? wanted : wanted.filter((a) => a === 'pull');
      return [{ type: 'repository', name: m[1]!, actions }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: account ?? '',
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signingInput).sign(keyPem);
    const token = `${signingInput}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  server.closeIdleConnections?.();
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return { realm: `http://127.0.0.1:${port}/token`, service, issuer, rootCertBundle: crt, requests, server };
}

export interface RegistryOptions {
  tls?: Pki;
  /** user -> password, served through htpasswd basic auth. */
  htpasswd?: Record<string, string>;
  token?: TokenServer;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  url: string;
  dataDir: string;
  proc: ChildProcess;
}

/**
 * The IPv4 TCP port `pid` listens on, if it listens yet: its socket inodes (/proc/PID/fd) found
 * among the LISTEN entries of /proc/PID/net/tcp.
 */
function listeningPort(pid: number): number | undefined {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  let table: string;
  try {
    table = readFileSync(`/proc/${pid}/net/tcp`, 'utf8');
  } catch {
    return undefined;
  }
  // sl local_address rem_address st ... inode; st 0A is LISTEN
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] === '0A' && inodes.has(f[9] ?? '')) return Number.parseInt(f[1]!.split(':')[1]!, 16);
  }
  return undefined;
}

export async function startRegistry(t: TestContext, opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = tempDir(t, 'brig-registry-');
  const data = join(dir, 'data');
  mkdirSync(data);
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${data}`,
    '  delete:',
    '    enabled: true',
    'http:',
    // port 0: the kernel picks a free port at the bind (a port chosen here and released first
    // could be taken meanwhile by another test file running at the same time)
    '  addr: 127.0.0.1:0',
    `  secret: ${randomUUID()}`,
  ];
  if (opts.tls)
    lines.push('  tls:', `    certificate: ${opts.tls.serverCert}`, `    key: ${opts.tls.serverKey}`);
  if (opts.htpasswd) {
    const file = join(dir, 'htpasswd');
    const entries = Object.entries(opts.htpasswd).map(([u, p]) =>
      execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim(),
    );
    writeFileSync(file, `${entries.join('\n')}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: brig-test', `    path: ${file}`);
  } else if (opts.token) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${opts.token.realm}`,
      `    service: ${opts.token.service}`,
      `    issuer: ${opts.token.issuer}`,
      `    rootcertbundle: ${opts.token.rootCertBundle}`,
    );
  }
  const cfg = join(dir, 'config.yml');
  writeFileSync(cfg, `${lines.join('\n')}\n`);
  const proc = spawn('/usr/bin/docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
    if (stderr.length > 20000) stderr = stderr.slice(-10000);
  });
  t.after(
    () =>
      new Promise<void>((r) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return r();
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  );
  const scheme = opts.tls ? 'https' : 'http';
  // wait until it listens, and learn on which port
  let port: number | undefined;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    port = proc.pid === undefined ? undefined : listeningPort(proc.pid);
    if (port !== undefined) break;
    if (i > 400) throw new Error(`docker-registry did not listen: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const url = `${scheme}://127.0.0.1:${port}`;
  return { host: `127.0.0.1:${port}`, port, url, dataDir: data, proc };
}

/** Asserts that neither `password` nor its basic-auth form (`user:password` in base64) is in any of `texts`. */
export function assertNoSecret(texts: string[], user: string, password: string, message: string): void {
  const b64 = Buffer.from(`${user}:${password}`).toString('base64');
  for (const text of texts) assert.ok(!text.includes(password) && !text.includes(b64), message);
}

/** Puts every blob of an OCI layout into a content store; returns the layout's first manifest. */
export async function importLayout(
  content: import('../../src/content/store.ts').ContentStore,
  layout: string,
): Promise<import('../../src/content/store.ts').Descriptor> {
  const { readdirSync } = await import('node:fs');
  for (const hex of readdirSync(join(layout, 'blobs', 'sha256'))) {
    const bytes = readFileSync(join(layout, 'blobs', 'sha256', hex));
    await content.ingest(bytes, { digest: `sha256:${hex}`, size: bytes.length });
  }
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: import('../../src/content/store.ts').Descriptor[];
  };
  const d = index.manifests[0]!;
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** Builds the busybox fixture image (OCI layout) offline. */
export function buildBusybox(dir: string, tag = 'latest'): string {
  execFileSync('sh', [fixtureScript('make-busybox-image.sh'), dir, tag], { stdio: 'pipe' });
  return dir;
}

/**
 * A variant of a stored image: the same layers, a config changed by `patch` (e.g. another os),
 * a new manifest. Returns the new manifest's descriptor.
 */
export async function deriveImage(
  content: import('../../src/content/store.ts').ContentStore,
  base: import('../../src/content/store.ts').Descriptor,
  patch: (config: Record<string, unknown>) => void,
): Promise<import('../../src/content/store.ts').Descriptor> {
  const { createHash } = await import('node:crypto');
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as const;
  const manifest = JSON.parse((await content.readBytes(base.digest)).toString()) as {
    config: { digest: `sha256:${string}`; size: number };
  };
  const config = JSON.parse((await content.readBytes(manifest.config.digest)).toString()) as Record<
    string,
    unknown
  >;
  patch(config);
  const cfgBytes = Buffer.from(JSON.stringify(config));
  await content.ingest(cfgBytes, { digest: sha(cfgBytes), size: cfgBytes.length });
  manifest.config = { ...manifest.config, digest: sha(cfgBytes), size: cfgBytes.length };
  const mBytes = Buffer.from(JSON.stringify(manifest));
  await content.ingest(mBytes, { digest: sha(mBytes), size: mBytes.length });
  return { mediaType: base.mediaType, digest: sha(mBytes), size: mBytes.length };
}

/** Stores an OCI index of the given manifests (with their platforms) and returns its descriptor. */
export async function storeIndex(
  content: import('../../src/content/store.ts').ContentStore,
  manifests: import('../../src/content/store.ts').Descriptor[],
): Promise<import('../../src/content/store.ts').Descriptor> {
  const { createHash } = await import('node:crypto');
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
  );
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as const;
  await content.ingest(bytes, { digest, size: bytes.length });
  return { mediaType: 'application/vnd.oci.image.index.v1+json', digest, size: bytes.length };
}

export interface FaultProxy {
  host: string;
  /** Requests seen: method, path, range header, and the registry's status once it answered. */
  seen: { method: string; path: string; range?: string; status?: number }[];
  faults: {
    /** Close the connection after half of this blob's body (first GET without Range only). */
    cutBlob?: string;
    /** Serve this blob with one byte changed (same length). */
    corruptBlob?: string;
    /** Answer this many manifest requests with 429 Retry-After: 1 first. */
    tooMany?: number;
    /** Answer this many requests with 503 first. */
    unavailable?: number;
    /** Answer GETs of this blob with 307 to `${to}/blob/DIGEST` (another origin: object storage). */
    redirectBlob?: { digest: string; to: string };
    /** Drop the Range header of blob GETs (a registry that ignores Range answers 200 whole). */
    ignoreRange?: boolean;
    /** Close the connection, without an answer, of `count` requests of `method` whose path has `path`. */
    reset?: { method: string; path: string; count: number };
  };
  /** Authorization headers seen on blob GETs. */
  blobAuth: (string | undefined)[];
}

/** An HTTP proxy in front of a plain-HTTP registry that injects faults. */
export async function startFaultProxy(t: TestContext, upstreamPort: number): Promise<FaultProxy> {
  const { request: httpRequest } = await import('node:http');
  const proxy: FaultProxy = { host: '', seen: [], faults: {}, blobAuth: [] };
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const range = req.headers.range;
    const entry: FaultProxy['seen'][number] = {
      method: req.method ?? 'GET',
      path,
      ...(range ? { range } : {}),
    };
    proxy.seen.push(entry);
    const f = proxy.faults;
    if (f.ignoreRange && path.includes('/blobs/sha256:')) delete req.headers.range;
    if (f.reset && f.reset.count > 0 && req.method === f.reset.method && path.includes(f.reset.path)) {
      f.reset.count--;
      req.socket.destroy();
      return;
    }
    if (f.unavailable && f.unavailable > 0) {
      f.unavailable--;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'try later' }] }));
      return;
    }
    if (f.tooMany && f.tooMany > 0 && path.includes('/manifests/')) {
      f.tooMany--;
      req.resume();
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
      return;
    }
    if (req.method === 'GET' && path.includes('/blobs/sha256:'))
      proxy.blobAuth.push(req.headers.authorization);
    if (f.redirectBlob && req.method === 'GET' && path.endsWith(f.redirectBlob.digest)) {
      req.resume();
      res.writeHead(307, { location: `${f.redirectBlob.to}/blob/${f.redirectBlob.digest}` });
      res.end();
      return;
    }
    const up = httpRequest(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path, headers: req.headers },
      (ur) => {
        entry.status = ur.statusCode;
        const isBlobGet = req.method === 'GET' && path.includes('/blobs/sha256:');
        const cut =
          isBlobGet && f.cutBlob !== undefined && path.endsWith(f.cutBlob) && !range && ur.statusCode === 200;
        const corrupt =
          isBlobGet && f.corruptBlob !== undefined && path.endsWith(f.corruptBlob) && ur.statusCode === 200;
        if (!cut && !corrupt) {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(200, { ...ur.headers, 'content-length': String(body.length) });
          if (corrupt) {
            body[body.length >> 1] = (body[body.length >> 1] ?? 0) ^ 0xff;
            res.end(body);
            return;
          }
          f.cutBlob = undefined;
          res.write(body.subarray(0, body.length >> 1), () => {
            setTimeout(() => res.socket?.destroy(), 20);
          });
        });
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  proxy.host = await serveLocal(t, server);
  return proxy;
}

/**
 * Listens on a free port of 127.0.0.1 until the test ends (then `beforeClose`, and every
 * connection closed); returns `127.0.0.1:PORT`.
 */
async function serveLocal(t: TestContext, server: Server, beforeClose = () => {}): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        beforeClose();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const a = server.address();
  return `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

export interface Brig {
  root: string;
  content: ContentStore;
  registry: Registry;
  authFile: string;
}

export function brig(
  t: TestContext,
  cfg: Partial<RegistriesConfig> = {},
  certs?: Record<string, string>,
): Brig {
  const root = tempDir(t, 'brig-root-');
  const etc = join(root, 'etc');
  mkdirSync(etc);
  for (const [host, ca] of Object.entries(certs ?? {})) {
    mkdirSync(join(etc, 'certs.d', host), { recursive: true });
    writeFileSync(join(etc, 'certs.d', host, 'ca.crt'), readFileSync(ca));
  }
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  const content = new LocalContentStore(root, db);
  const resolved = resolveRegistries(
    { ...registriesDefaults, extraAuthFiles: [], ...cfg },
    { root, configFile: join(etc, 'brig.yaml') },
  );
  const credentials = new CredentialStore(resolved.authFile, resolved.extraAuthFiles);
  const registry = new Registry({
    hosts: new RegistryHosts(resolved),
    credentials,
    content,
    retry: { baseDelayMs: 20, maxDelayMs: 200 },
  });
  t.after(() => registry.close());
  return { root, content, registry, authFile: resolved.authFile };
}

/**
 * An HTTP proxy in front of the registry. A GET of a blob named in `holds` is forwarded only once
 * that blob's `release()` was called; `arrived(d)` resolves when a GET of `d` came in; `sent(d)`
 * tells whether it was forwarded.
 */
export async function holdProxy(
  t: TestContext,
  upstreamPort: number,
  holds: string[],
): Promise<{
  host: string;
  release(digest: string): void;
  arrived(digest: string): Promise<void>;
  sent(digest: string): boolean;
}> {
  const gates = new Map(holds.map((d) => [d, gate()]));
  const arrivals = new Map(holds.map((d) => [d, gate()]));
  const forwarded = new Set<string>();
  const server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    const digest = holds.find((d) => path.endsWith(d));
    if (req.method === 'GET' && digest) {
      arrivals.get(digest)!.open();
      await gates.get(digest)!.promise;
      forwarded.add(digest);
    }
    const up = httpRequest(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path, headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  const host = await serveLocal(t, server, () => {
    for (const g of gates.values()) g.open();
  });
  return {
    host,
    release: (d) => gates.get(d)!.open(),
    arrived: (d) => arrivals.get(d)!.promise,
    sent: (d) => forwarded.has(d),
  };
}

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

export interface GateProxy {
  host: string;
  /** Every request seen (method and path), in arrival order. */
  seen: { method: string; path: string }[];
  /** Matching requests that came in so far. */
  arrived: number;
  /** Matching requests that came in and whose answer has not been sent yet (held ones included). */
  inFlight: number;
  /** The largest `inFlight` seen. */
  maxInFlight: number;
  /** Resolves once `n` matching requests came in. */
  waitFor(n: number): Promise<void>;
  /** Forwards the oldest held request. */
  releaseNext(): void;
  /** Forwards every held request, and every later one at once. */
  releaseAll(): void;
}

/**
 * An HTTP proxy in front of a plain-HTTP registry that holds every request `match` picks until
 * the test releases it, and counts how many such requests are in flight. A matching request stops
 * counting as in flight just before the last byte of its answer is sent (the answer is read whole
 * from the registry first), so the client cannot have seen the answer while it still counts.
 */
export async function gateProxy(
  t: TestContext,
  upstreamPort: number,
  match: (method: string, path: string) => boolean,
): Promise<GateProxy> {
  const held: (() => void)[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let open = false;
  const proxy: GateProxy = {
    host: '',
    seen: [],
    arrived: 0,
    inFlight: 0,
    maxInFlight: 0,
    waitFor: (n) =>
      proxy.arrived >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    releaseNext: () => held.shift()?.(),
    releaseAll: () => {
      open = true;
      for (const r of held.splice(0)) r();
    },
  };
  const server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    proxy.seen.push({ method, path });
    const gated = match(method, path);
    if (gated) {
      proxy.arrived++;
      proxy.inFlight++;
      proxy.maxInFlight = Math.max(proxy.maxInFlight, proxy.inFlight);
      for (const w of waiters.filter((w) => proxy.arrived >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      if (!open) await new Promise<void>((r) => held.push(r));
    }
    const up = httpRequest(
      { host: '127.0.0.1', port: upstreamPort, method, path, headers: req.headers },
      (ur) => {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          if (gated) proxy.inFlight--;
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          res.end(Buffer.concat(chunks));
        });
      },
    );
    up.on('error', () => {
      if (gated) proxy.inFlight--;
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  proxy.host = await serveLocal(t, server, () => proxy.releaseAll());
  return proxy;
}

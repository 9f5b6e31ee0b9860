/**
 * Test servers for registry tests: Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1
 * with a random port, a throw-away CA and server certificate (openssl), htpasswd users (bcrypt),
 * and a bearer-token server issuing the JWTs distribution's token auth verifies (RS256, the
 * signing certificate in the `x5c` header, chained to the registry's `rootcertbundle`).
 * Everything lives in the test's temp dir and is stopped in `t.after`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as netServer, Socket } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
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

/** A CA and a server certificate for 127.0.0.1/localhost signed by it. */
export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  const p = (n: string) => join(dir, n);
  const ossl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  ossl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=brig test CA',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.crt'),
  ]);
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
      '/CN=brig test token issuer',
      '-keyout',
      key,
      '-out',
      crt,
    ],
    {
      stdio: 'pipe',
    },
  );
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

export async function startRegistry(t: TestContext, opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = tempDir(t, 'brig-registry-');
  const port = await freePort();
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
    `  addr: 127.0.0.1:${port}`,
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
  const url = `${scheme}://127.0.0.1:${port}`;
  // wait until it listens
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    });
    if (ok) break;
    if (i > 400) throw new Error(`docker-registry did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { host: `127.0.0.1:${port}`, port, url, dataDir: data, proc };
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

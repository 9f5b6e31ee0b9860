/**
 * The CLI's two entries dispatch alike: dist/brig.cjs (the installed `brig`, src/cli/main-cjs.ts)
 * and dist/brig.mjs (src/cli/main.ts) give the same exit status, stdout and stderr for the fast
 * forms of push, pull and run, for the forms that fall back to commander, and for --version and
 * --help. brigd is played by a small server on a unix socket that records each request and answers
 * as told; a second socket path has nothing listening (ERR_DAEMON_UNAVAILABLE).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { type CliResult, childEnv, outputOf, PROJECT } from '../support/daemon.ts';
import { onRequest } from '../support/fake-brigd.ts';
import { tempDir } from '../support/tmp.ts';

const CJS = join(PROJECT, 'dist/brig.cjs');
const ESM = join(PROJECT, 'dist/brig.mjs');

function brig(entry: string, args: string[]): Promise<CliResult> {
  const env = childEnv();
  delete env.BRIG_HOST;
  return outputOf(spawn(process.execPath, [entry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** A fake brigd: answers each request with `answer(path, body)`, an HTTP response; records requests. */
async function fakeDaemon(
  sock: string,
  answer: (path: string, body: unknown) => string,
): Promise<{ server: Server; requests: { path: string; body: unknown }[] }> {
  const requests: { path: string; body: unknown }[] = [];
  const server = createServer((s) =>
    onRequest(s, ({ path, body }) => {
      requests.push({ path, body });
      s.end(answer(path, body));
    }),
  );
  await new Promise<void>((r) => server.listen(sock, r));
  return { server, requests };
}

const ndjson = (...lines: unknown[]) => {
  const body = lines.map((l) => `${JSON.stringify(l)}\n`).join('');
  return `HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
};
const failure = (status: number, error: unknown) => {
  const body = JSON.stringify({ error });
  return `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
};

test('dist/brig.cjs and dist/brig.mjs give the same status and output for every form', async (t) => {
  assert.ok(existsSync(CJS) && existsSync(ESM), 'dist/ is missing: run `npm run build` first');
  const dir = tempDir(t);
  const sock = join(dir, 'brigd.sock');
  const missing = join(dir, 'nobody.sock');
  const digest = `sha256:${'ab'.repeat(32)}`;
  const { server, requests } = await fakeDaemon(sock, (path, body) => {
    const b = body as Record<string, string> | undefined;
    if (path === '/registry/push' && b?.image === 'r.test/fail:1')
      return failure(404, { code: 'ERR_IMAGE_NOT_FOUND', message: 'no such image r.test/fail:1' });
    if (path === '/registry/push' && b?.image === 'r.test/midway:1')
      return ndjson(
        { progress: { id: digest, kind: 'layer', status: 'uploading', current: 1, total: 2 } },
        {
          error: { code: 'ERR_REGISTRY_UNAVAILABLE', message: 'the registry went away' },
        },
      );
    if (path === '/registry/push')
      return ndjson({
        result: { name: b?.image, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 7 },
      });
    if (path === '/registry/pull')
      return ndjson({
        result: { name: b?.reference, manifestDigest: digest, platform: 'linux/amd64' },
      });
    return failure(500, { code: 'ERR_INTERNAL', message: `the fake daemon does not answer ${path}` });
  });
  t.after(() => server.close());
  const h = ['-H', `unix://${sock}`];
  const forms: { args: string[]; code?: number }[] = [
    { args: ['--version'], code: 0 },
    { args: ['-v'], code: 0 },
    { args: ['--help'], code: 0 },
    { args: [] },
    { args: ['no-such-verb'] },
    // fast forms
    { args: [...h, 'push', '-q', 'r.test/ok:1'], code: 0 },
    { args: [...h, 'push', 'r.test/ok:1', '--quiet'], code: 0 },
    {
      args: [
        `--host=unix://${sock}`,
        'pull',
        '--no-unpack',
        '-q',
        '--platform',
        'linux/amd64',
        'r.test/ok:1',
      ],
      code: 0,
    },
    { args: [...h, 'pull', '-q', 'r.test/ok:1'], code: 0 },
    { args: [...h, 'push', '-q', 'r.test/fail:1'], code: 125 },
    { args: [...h, 'push', '-q', 'r.test/midway:1'], code: 125 },
    { args: ['-H', `unix://${missing}`, 'push', '-q', 'r.test/ok:1'], code: 125 },
    { args: ['-H', `unix://${missing}`, 'run', '--rm', 'busybox', 'true'], code: 125 },
    // forms the fast paths leave to commander
    { args: [...h, 'push', '--help'], code: 0 },
    { args: [...h, 'push', 'a', 'b'] },
    { args: [...h, 'pull', '--bogus', 'r.test/ok:1'] },
    { args: ['-H', `unix://${missing}`, 'run', '--bogus', 'busybox'] },
    { args: ['-H', `unix://${missing}`, 'run', '--help'], code: 0 },
    { args: ['-H', `unix://${missing}`, 'images'], code: 125 },
  ];
  for (const f of forms) {
    const [c, m] = await Promise.all([brig(CJS, f.args), brig(ESM, f.args)]);
    assert.deepEqual(c, m, `brig ${f.args.join(' ')}`);
    if (f.code !== undefined) assert.equal(c.code, f.code, `brig ${f.args.join(' ')}: ${c.stderr}`);
  }
  // each entry sent the same requests: 2 per successful form, the fast forms only
  const paths = requests.map((r) => r.path);
  assert.equal(paths.filter((p) => p === '/registry/push').length, 2 * 4);
  assert.equal(paths.filter((p) => p === '/registry/pull').length, 2 * 2);
  assert.equal(paths.length, 12);
});

test('dist/brig.cjs is a small CommonJS script that answers --version by itself', async () => {
  const src = readFileSync(CJS, 'utf8');
  assert.match(src, /^#!\/usr\/bin\/env node\n/);
  assert.ok(src.length < 5000, `dist/brig.cjs is ${src.length} bytes`);
  const fast = readFileSync(join(PROJECT, 'dist/brig-fast.cjs'), 'utf8');
  for (const [name, text] of [
    ['brig.cjs', src],
    ['brig-fast.cjs', fast],
  ] as const) {
    assert.doesNotMatch(text, /^(import|export)\s/m, `${name}: no ES module syntax at the top level`);
    assert.doesNotMatch(text, /require\("commander"\)|from "commander"/, `${name}: commander is not bundled`);
  }
  const r = await brig(CJS, ['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^brig version \d+\.\d+\.\d+\n$/);
});

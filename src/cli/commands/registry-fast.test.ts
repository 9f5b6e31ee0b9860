import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { commanderProgram, hostOf } from '../../../test/support/cli.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { runProgram } from '../program.ts';
import * as pullCommand from './pull.ts';
import * as pushCommand from './push.ts';
import { HttpResponseReader, parseRegistryCommand, registryFast } from './registry-fast.ts';

/** What commander (the program's setup, push.ts and pull.ts) makes of the arguments. */
async function viaCommander(args: string[]) {
  const program = commanderProgram([pushCommand, pullCommand]);
  let got: unknown;
  for (const verb of ['push', 'pull'] as const) {
    const cmd = program.commands.find((c) => c.name() === verb)!;
    cmd.exitOverride().action((name: string, o: { quiet?: boolean; platform?: string; unpack?: boolean }) => {
      got = {
        verb,
        ...hostOf(program),
        name,
        quiet: o.quiet === true,
        ...(verb === 'pull'
          ? { ...(o.platform !== undefined ? { platform: o.platform } : {}), unpack: o.unpack !== false }
          : {}),
      };
    });
  }
  await program.parseAsync(['node', 'brig', ...args]);
  return got;
}

const ACCEPTED: string[][] = [
  ['push', 'reg.example:5000/app:1'],
  ['push', '-q', 'app'],
  ['push', 'app', '--quiet'],
  ['-H', 'unix:///x.sock', 'push', '-q', 'app:2'],
  ['--host=unix:///y', 'push', 'app'],
  ['--host', 'unix:///y', 'pull', 'app'],
  ['pull', 'busybox'],
  ['pull', '-q', 'busybox'],
  ['pull', '--no-unpack', '-q', '127.0.0.1:5000/seed/debian:1'],
  ['pull', 'busybox', '--no-unpack'],
  ['pull', '--platform', 'linux/arm64/v8', 'busybox'],
  ['pull', '--platform=freebsd/amd64', '--quiet', 'busybox@sha256:abc'],
  ['pull', 'busybox', '--platform', 'linux/amd64', '-q', '--no-unpack'],
];

for (const args of ACCEPTED) {
  test(`push/pull fast path = commander: ${args.join(' ')}`, async () => {
    const fast = parseRegistryCommand(args);
    assert.ok(fast, 'accepted');
    assert.deepEqual(fast, await viaCommander(args));
  });
}

test('push/pull fast path declines what it does not know (commander then parses)', () => {
  for (const args of [
    ['push'],
    ['pull'],
    ['push', '--help'],
    ['pull', '-h', 'busybox'],
    ['push', 'a', 'b'],
    ['push', '--platform', 'linux/amd64', 'app'],
    ['push', '--no-unpack', 'app'],
    ['pull', '--platform', '-q', 'busybox'],
    ['pull', '--platform'],
    ['pull', '--', 'busybox'],
    ['pull', '-qx', 'busybox'],
    ['pull', '--quiet=1', 'busybox'],
    ['pull', '--no-such', 'busybox'],
    ['-H', 'unix:///x', 'busybox'],
    ['--version', 'pull', 'busybox'],
    ['images'],
    ['run', 'busybox'],
  ]) {
    assert.equal(parseRegistryCommand(args), undefined, args.join(' '));
  }
});

/** A fake brigd on a socket: answers the registry routes with NDJSON and records what it got. */
async function fakeDaemon(t: import('node:test').TestContext) {
  const sock = join(tempDir(t), 'brig.sock');
  const bodies: { path: string; body: unknown }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (b: Buffer) => {
      text += b.toString('utf8');
    });
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body: JSON.parse(text) });
      const body = JSON.parse(text) as { reference?: string; image?: string };
      if (body.reference === 'missing' || body.image === 'missing') {
        const err = JSON.stringify({ error: { code: 'ERR_IMAGE_NOT_FOUND', message: 'no such image' } });
        res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(err) });
        res.end(err);
        return;
      }
      if (body.reference === 'plain') {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('upstream trouble');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const id = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';
      res.write(
        `${JSON.stringify({ progress: { id, kind: 'layer', status: 'waiting', current: 0, total: 10 } })}\n`,
      );
      res.write(
        `${JSON.stringify({ progress: { id, kind: 'layer', status: 'done', current: 10, total: 10 } })}\n`,
      );
      if (body.reference === 'fails') {
        res.end(
          `${JSON.stringify({ error: { code: 'ERR_REGISTRY_NOT_FOUND', message: 'nope', hint: 'h' } })}\n`,
        );
        return;
      }
      const result =
        req.url === '/registry/push'
          ? {
              name: body.image,
              digest: 'sha256:2222',
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              size: 350,
              keptPlatforms: ['linux/arm64'],
              bytesUploaded: 10,
            }
          : {
              name: body.reference,
              id: 'sha256:3333',
              manifestDigest: 'sha256:4444',
              targetDigest: 'sha256:4444',
              platform: 'linux/amd64',
              bytesFetched: 10,
            };
      res.end(`${JSON.stringify({ result })}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { sock, bodies };
}

/**
 * Runs `fn` with the strings written to process.stdout/stderr captured (stderr is not a TTY here:
 * plain progress lines). Buffers pass through: the test runner reports on stdout in binary.
 */
async function captured(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const w1 = process.stdout.write;
  const w2 = process.stderr.write;
  const tty = process.stderr.isTTY;
  const capture =
    (into: string[], orig: typeof process.stdout.write, stream: NodeJS.WriteStream) =>
    (s: unknown, ...rest: unknown[]): boolean => {
      if (typeof s === 'string') return into.push(s) > 0;
      return (orig as (...a: unknown[]) => boolean).call(stream, s, ...rest);
    };
  process.stdout.write = capture(out, w1, process.stdout) as typeof process.stdout.write;
  process.stderr.write = capture(err, w2, process.stderr) as typeof process.stderr.write;
  process.stderr.isTTY = false;
  try {
    const code = await fn();
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
    process.stderr.isTTY = tty;
  }
}

test('push/pull fast path prints and sends what the commander commands do', async (t) => {
  const d = await fakeDaemon(t);
  for (const rest of [
    ['push', 'reg.example/app:1'],
    ['push', '-q', 'reg.example/app:1'],
    ['pull', 'reg.example/app:1'],
    ['pull', '-q', '--no-unpack', '--platform', 'linux/amd64', 'reg.example/app:1'],
    ['pull', 'fails'],
    ['pull', '-q', 'missing'],
    ['push', 'missing'],
    ['pull', 'plain'],
  ]) {
    const args = ['-H', `unix://${d.sock}`, ...rest];
    d.bodies.length = 0;
    const fast = await captured(() => registryFast(args)!);
    const fastBodies = [...d.bodies];
    d.bodies.length = 0;
    const slow = await captured(() => runProgram(['node', 'brig', ...args], [pushCommand, pullCommand]));
    assert.deepEqual(fast, slow, rest.join(' '));
    assert.deepEqual(fastBodies, d.bodies, rest.join(' '));
    assert.equal(fast.code, /^(fails|missing|plain)$/.test(rest.at(-1)!) ? 125 : 0, rest.join(' '));
  }
  // no daemon there: the same report both ways
  const gone = ['-H', `unix://${d.sock}.gone`, 'pull', 'x'];
  const fast = await captured(() => registryFast(gone)!);
  assert.deepEqual(fast, await captured(() => runProgram(['node', 'brig', ...gone], [pullCommand])));
  assert.match(fast.err, /^Error: cannot reach brigd at .*\nHint: /);
  // the body the fast path sends for --no-unpack
  d.bodies.length = 0;
  await captured(() => registryFast(['-H', `unix://${d.sock}`, 'pull', '-q', '--no-unpack', 'x'])!);
  assert.deepEqual(d.bodies, [{ path: '/registry/pull', body: { reference: 'x', unpack: false } }]);
});

/** An answer as brigd's http server writes it, fed to the reader in pieces of `step` bytes. */
function readInPieces(raw: string, step: number): { status: number; body: string; done: boolean } {
  const body: Buffer[] = [];
  const r = new HttpResponseReader((b) => body.push(Buffer.from(b)));
  const bytes = Buffer.from(raw);
  for (let i = 0; i < bytes.length; i += step) r.feed(bytes.subarray(i, i + step));
  return { status: r.status, body: Buffer.concat(body).toString('utf8'), done: r.done };
}

test('HttpResponseReader: chunked, Content-Length, until close; any split of the input', () => {
  const chunked =
    'HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '6\r\n{"a":1\r\n4;ext=1\r\n}\n\u00e9\r\n0\r\nx-trailer: 1\r\n\r\n';
  const sized = 'HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope!';
  for (const step of [1, 2, 3, 7, 1000]) {
    assert.deepEqual(readInPieces(chunked, step), { status: 200, body: '{"a":1}\n\u00e9', done: true });
    assert.deepEqual(readInPieces(sized, step), { status: 404, body: 'nope!', done: true });
  }
  const closing = new HttpResponseReader(() => {});
  closing.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n{}\n'));
  assert.equal(closing.done, false);
  closing.end();
  assert.equal(closing.done, true);
});

test('HttpResponseReader: malformed or cut answers are errors', () => {
  const feed = (raw: string) => new HttpResponseReader(() => {}).feed(Buffer.from(raw));
  assert.throws(() => feed('SSH-2.0-OpenSSH\r\n\r\n'));
  assert.throws(() => feed('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
  assert.throws(() => feed('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n'));
  assert.throws(() => feed('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'));
  const cut = new HttpResponseReader(() => {});
  cut.feed(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'));
  assert.throws(() => cut.end());
});

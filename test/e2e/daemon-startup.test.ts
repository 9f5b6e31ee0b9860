/**
 * brigd start-up: the root lock (brigd.lock, a kernel lock released when brigd dies; brigd.pid is
 * information only), the clean-up of what an earlier brigd left in flight (leases, ingestions),
 * and the socket mode written unquoted in the YAML file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { BrigClient } from '../../src/client/client.ts';
import { LocalContentStore } from '../../src/content/local-store.ts';
import { openDatabase } from '../../src/metadata/db.ts';
import { BRIGD, childEnv, startDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

interface Spawned {
  child: ChildProcess;
  socket: string;
  output: () => string;
  exited: Promise<number | null>;
}

function spawnBrigd(t: TestContext, root: string, socket: string, config: string): Spawned {
  const child = spawn(process.execPath, [BRIGD, '--root', root, '--socket', socket, '--config', config], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  return { child, socket, output: () => out, exited };
}

/** Waits until `s` answers on its socket ('running') or exits ('exited'). */
async function settle(s: Spawned): Promise<'running' | 'exited'> {
  const client = new BrigClient(s.socket);
  for (;;) {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return 'exited';
    try {
      await client.request('GET', '/_ping');
      return 'running';
    } catch {}
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('three brigd started at the same moment on one root (over a stale brigd.pid): exactly one runs', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'brig.yaml');
  writeFileSync(config, '{}\n');
  for (let round = 0; round < 4; round++) {
    const root = join(dir, `root${round}`);
    mkdirSync(root);
    // what kill -9 or a crash of the old scheme left: a pid nobody has
    writeFileSync(join(root, 'brigd.pid'), '999999\n');
    const all = ['a', 'b', 'c'].map((n) => spawnBrigd(t, root, join(dir, `${n}${round}.sock`), config));
    const states = await Promise.all(all.map(settle));
    const why = `round ${round}:\n${all.map((s) => s.output()).join('\n')}`;
    assert.deepEqual([...states].sort(), ['exited', 'exited', 'running'], why);
    const winner = all[states.indexOf('running')]!;
    for (const loser of all.filter((s) => s !== winner)) {
      assert.equal(await loser.exited, 1, why);
      assert.match(loser.output(), /\(ERR_DAEMON_RUNNING\)/);
      assert.doesNotMatch(loser.output(), /Sqlite|SQLITE_/);
      assert.equal(existsSync(loser.socket), false);
    }
    // the losers touched nothing of the winner's: its pid file, its socket, its database
    assert.equal(readFileSync(join(root, 'brigd.pid'), 'utf8').trim(), String(winner.child.pid), why);
    assert.ok(statSync(winner.socket).isSocket());
    await new BrigClient(winner.socket).request('GET', '/_ping');
    winner.child.kill('SIGTERM');
    assert.equal(await winner.exited, 0, winner.output());
  }
});

test('a brigd.pid naming a live process that is not brigd does not block start-up', async (t) => {
  for (const pid of [process.pid, 1]) {
    const dir = tempDir(t);
    const root = join(dir, 'root');
    mkdirSync(root);
    writeFileSync(join(root, 'brigd.pid'), `${pid}\n`);
    writeFileSync(join(dir, 'brig.yaml'), '{}\n');
    const s = spawnBrigd(t, root, join(dir, 'brig.sock'), join(dir, 'brig.yaml'));
    assert.equal(await settle(s), 'running', s.output());
    assert.equal(readFileSync(join(root, 'brigd.pid'), 'utf8').trim(), String(s.child.pid));
    s.child.kill('SIGTERM');
    assert.equal(await s.exited, 0);
    assert.equal(existsSync(join(root, 'brigd.pid')), false);
  }
});

test("a kill -9'd brigd's root is taken over at once, and the new brigd owns it alone", async (t) => {
  const d = await startDaemon(t);
  const old = d.process.pid;
  await d.stop('SIGKILL');
  // brigd.pid still names the dead brigd: information, not the lock
  assert.equal(readFileSync(join(d.root, 'brigd.pid'), 'utf8').trim(), String(old));
  await d.restart();
  assert.equal(readFileSync(join(d.root, 'brigd.pid'), 'utf8').trim(), String(d.process.pid));
  const other = spawnBrigd(t, d.root, join(d.dir, 'other.sock'), d.configFile);
  assert.equal(await other.exited, 1);
  assert.match(other.output(), /\(ERR_DAEMON_RUNNING\)/);
  assert.equal((await d.brig(['system', 'info', '--json'])).code, 0);
});

test('leases and ingestions left by an earlier brigd are removed at start; the blobs they pinned are collected', async (t) => {
  const d = await startDaemon(t);
  await d.stop('SIGKILL');
  // what a brigd killed mid-import leaves: a 24 h lease pinning a manifest, its config and layer,
  // and the ingestion of the next layer
  const db = openDatabase(join(d.root, 'brig.db'));
  const store = new LocalContentStore(d.root, db);
  const lease = await store.createLease({ expiresInMs: 24 * 3600_000, labels: { 'brig.import': '/x/two' } });
  const layer = await store.ingest(Buffer.from('layer bytes'), { lease });
  const config = await store.ingest(Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}'), { lease });
  const manifest = await store.ingest(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: config.digest,
          size: config.size,
        },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.digest, size: layer.size },
        ],
      }),
    ),
    { lease },
  );
  const w = await store.writer({ ref: 'import-next-layer', lease });
  await w.write(Buffer.from('half a layer'));
  db.close();
  const blobs = [layer, config, manifest].map((b) => store.blobPath(b.digest));
  for (const p of blobs) assert.ok(existsSync(p));
  assert.equal(readdirSync(join(d.root, 'content', 'ingest')).length, 1);

  await d.restart();
  for (const p of blobs) assert.equal(existsSync(p), false, p);
  assert.deepEqual(readdirSync(join(d.root, 'content', 'ingest')), []);
  const check = openDatabase(join(d.root, 'brig.db'));
  try {
    assert.equal(check.prepare('SELECT count(*) FROM leases').pluck().get(), 0);
  } finally {
    check.close();
  }
  const logs = d.logs();
  assert.ok(logs.includes(lease) && logs.includes('removed a lease left by an earlier run'), logs);
  assert.ok(logs.includes('import-next-layer'), logs);
  assert.match(logs, /"removed blobs no image uses","count":3/);
});

test('socket.mode written unquoted (0600) is octal: the socket is rw------- (YAML 1.2 reads decimal 600)', async (t) => {
  const d = await startDaemon(t, { config: 'socket:\n  mode: 0600\n' });
  assert.equal(statSync(d.socket).mode & 0o777, 0o600);
});

/** Sends a request over `socket`; resolves with the response once its headers arrive. */
function openRequest(
  socket: string,
  method: string,
  path: string,
  body?: { length: number; sent: string },
  written?: () => void,
): Promise<{ status: number; text: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      socketPath: socket,
      method,
      path,
      agent: false,
      headers: body ? { 'content-type': 'application/json', 'content-length': body.length } : {},
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      resolve({
        status: res.statusCode ?? 0,
        text: new Promise((r, j) => {
          res.on('end', () => r(text));
          res.on('error', j);
        }),
      });
    });
    // part of the body only: the handler waits for the rest, so the request stays in flight
    if (body) req.write(body.sent, () => written?.());
    else req.end();
  });
}

test('SIGTERM answers requests in flight with ERR_DAEMON_STOPPING instead of resetting them', async (t) => {
  const d = await startDaemon(t);
  const stream = await openRequest(d.socket, 'GET', '/events?follow=1');
  assert.equal(stream.status, 200);
  let written!: () => void;
  const sent = new Promise<void>((r) => (written = r));
  const waiting = openRequest(d.socket, 'POST', '/volumes', { length: 1000, sent: '{"name":' }, written);
  await sent;
  // the POST's headers reached the socket before these pings were sent: brigd has it in hand
  for (let i = 0; i < 3; i++) await d.client.request('GET', '/_ping');
  assert.equal(await d.stop('SIGTERM'), 0, d.logs());
  const refused = await waiting;
  assert.equal(refused.status, 503);
  assert.equal(JSON.parse(await refused.text).error.code, 'ERR_DAEMON_STOPPING');
  const lines = (await stream.text).trim().split('\n');
  assert.equal(JSON.parse(lines.at(-1)!).error?.code, 'ERR_DAEMON_STOPPING', lines.join('\n'));
});

test('export temporaries a killed brigd left beside DEST are removed at the next start', async (t) => {
  const d = await startDaemon(t);
  const out = join(d.dir, 'out');
  mkdirSync(out);
  // an export goes through the journal: a failed one leaves no record
  const failed = await d.brig(['image', 'export', 'no-such-image:1', join(out, 'x.tar')]);
  assert.notEqual(failed.code, 0);
  assert.deepEqual(readdirSync(join(d.root, 'exports')), []);
  await d.stop('SIGKILL');
  // what brigd killed mid-export leaves: its record and the temporary beside DEST
  writeFileSync(join(d.root, 'exports', '0123456789abcdef'), join(out, 'big.tar'));
  writeFileSync(join(out, '.big.tar.brig-export-1a2cbd2c5349'), 'partial tar');
  writeFileSync(join(out, 'big.tar'), 'an older export, kept');
  await d.restart();
  assert.deepEqual(readdirSync(out), ['big.tar']);
  assert.deepEqual(readdirSync(join(d.root, 'exports')), []);
  assert.match(d.logs(), /removed export temporaries left by an earlier run/);
});

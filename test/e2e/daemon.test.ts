import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BRIGD, childEnv, runBrig, startDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

test('system info over the socket, socket mode 0660, --version', async (t) => {
  const d = await startDaemon(t);
  assert.equal(statSync(d.socket).mode & 0o777, 0o660);
  const r = await d.brig(['system', 'info', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.root, d.root);
  assert.equal(info.platform.name, 'linux');
  assert.ok(info.version);
  const human = await d.brig(['system', 'info']);
  assert.match(human.stdout, /^root:\s+\S+/m);
  const v = await d.brig(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^brig version \d+\.\d+\.\d+/);
});

test('a second daemon on the same root is refused, and the first keeps working', async (t) => {
  const d = await startDaemon(t);
  const r = spawnSync(
    process.execPath,
    [BRIGD, '--root', d.root, '--socket', join(d.dir, 'other.sock'), '--config', d.configFile],
    {
      env: childEnv(),
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already owns/);
  assert.equal((await d.brig(['system', 'info', '--json'])).code, 0);
});

test('unknown configuration keys and wrong types are refused at start-up with the key path', (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, 'brig.yaml');
  for (const [text, key] of [
    ['storage:\n  drivr: native\n', 'storage.drivr'],
    ['log:\n  level: loud\n', 'log.level'],
  ] as const) {
    writeFileSync(cfg, text);
    const r = spawnSync(
      process.execPath,
      [BRIGD, '--root', join(dir, 'root'), '--socket', join(dir, 's.sock'), '--config', cfg],
      {
        env: childEnv(),
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.ok(r.stderr.includes(key), r.stderr);
  }
});

test('SIGTERM shuts down cleanly: socket and pid file removed; a restart works on the same root', async (t) => {
  const d = await startDaemon(t);
  const code = await d.stop('SIGTERM');
  assert.equal(code, 0);
  assert.throws(() => statSync(d.socket));
  assert.throws(() => statSync(join(d.root, 'brigd.pid')));
  await d.restart();
  assert.equal((await d.brig(['system', 'info', '--json'])).code, 0);
});

test('kill -9 leaves a stale lock that the next start takes over', async (t) => {
  const d = await startDaemon(t);
  await d.stop('SIGKILL');
  await d.restart();
  assert.equal((await d.brig(['system', 'info', '--json'])).code, 0);
});

test('events stream: past events, filters, and live events with follow', async (t) => {
  const d = await startDaemon(t);
  const past = await d.brig(['events', '--no-follow', '--json', '--filter', 'type=daemon']);
  assert.equal(past.code, 0, past.stderr);
  const evs = past.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(evs.some((e) => e.type === 'daemon' && e.action === 'start'));
  // follow: a restart produces stop + start seen by a follower started before it
  const seen: string[] = [];
  const ac = new AbortController();
  const follower = (async () => {
    const { events } = await import('../../src/client/system.ts');
    try {
      for await (const e of events(d.client, { follow: true, afterSeq: evs.at(-1).seq })) {
        seen.push(e.action);
        if (e.action === 'stop') return;
      }
    } catch {}
  })();
  await new Promise((r) => setTimeout(r, 200));
  await d.stop();
  await follower;
  ac.abort();
  assert.deepEqual(seen, ['stop']);
});

test('the client reports an unreachable daemon with exit 125 and a hint', async (t) => {
  const dir = tempDir(t);
  const r = await runBrig(join(dir, 'nothing.sock'), ['system', 'info']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^Error: /m);
  assert.match(r.stderr, /^Hint: /m);
});

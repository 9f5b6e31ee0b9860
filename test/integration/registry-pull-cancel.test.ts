/**
 * Ctrl-C on `brig pull` cancels brigd's pull (src/api/disconnect.ts, PullOptions.signal), with
 * the built CLI and daemon and docker-registry on 127.0.0.1 behind a proxy that holds back the
 * image's second layer. While the pull waits for it (its lease live, the first layer stored and
 * unpacked), the CLI gets SIGINT: brigd drops the lease, the unpacked layer and the ingestion,
 * and records nothing, while the registry is still holding the layer back (before, the pull went
 * on waiting with its lease, and finished for nobody once the layer came).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { BRIG, childEnv, outputOf, startDaemon, type TestDaemon } from '../support/daemon.ts';
import { pollFor } from '../support/poll.ts';
import { brig, holdProxy, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { layerOf, snapshotRows, storeImage } from './pull-support.ts';

const needs = requires({ root: true, linux: true, commands: ['docker-registry'] });

function leases(d: TestDaemon): number {
  const db = new Database(join(d.root, 'brig.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM leases').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const ingestions = (d: TestDaemon) => {
  const dir = join(d.root, 'content', 'ingest');
  return existsSync(dir) ? readdirSync(dir) : [];
};

/** Polls `ok` every 50 ms (test/support/poll.ts); gives up after 30 s (the old code never gets there). */
const eventually = (what: string, ok: () => boolean) => pollFor(what, ok, { timeoutMs: 30_000, everyMs: 50 });

test(
  'Ctrl-C on brig pull cancels the pull in brigd: no lease, ingestion, layer or image left',
  needs,
  async (t) => {
    const reg = await startRegistry(t);
    const src = brig(t, { insecure: [reg.host] });
    const first = layerOf([{ name: 'one', data: 'first layer\n' }]);
    const second = layerOf([{ name: 'two', data: Buffer.alloc(64 * 1024, 7) }]);
    await src.registry.push(`${reg.host}/c/app:1`, await storeImage(src.content, [first, second]));
    const proxy = await holdProxy(t, reg.port, [second.desc.digest]);

    const d = await startDaemon(t, { config: { registries: { insecure: [proxy.host] } } });
    const cli = spawn(
      process.execPath,
      [BRIG, '--host', `unix://${d.socket}`, 'pull', `${proxy.host}/c/app:1`],
      {
        env: childEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const out = outputOf(cli);
    await proxy.arrived(second.desc.digest);
    await eventually('the first layer is unpacked while the second is held back', () =>
      snapshotRows(d).some((r) => r.kind === 'committed'),
    );
    assert.equal(leases(d), 1, 'the pull holds its lease');

    cli.kill('SIGINT');
    await out;
    await eventually('brigd dropped the pull’s lease', () => leases(d) === 0);
    assert.equal(proxy.sent(second.desc.digest), false, 'the registry still holds the layer back');
    await eventually('the unpacked layer was removed', () => snapshotRows(d).length === 0);
    assert.deepEqual(ingestions(d), []);
    const listed = await d.brig(['images', '--json']);
    assert.deepEqual(JSON.parse(listed.stdout), []);

    // once the layer comes, nothing is recorded for nobody, and a new pull works
    proxy.release(second.desc.digest);
    const again = await d.brig(['pull', `${proxy.host}/c/app:1`]);
    assert.equal(again.code, 0, `${again.stderr}\n${d.logs()}`);
    assert.equal(leases(d), 0);
  },
);

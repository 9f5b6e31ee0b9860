import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import { startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';

test('brig volume create, ls, inspect, rm, prune through brigd', requires({ root: true }), async (t) => {
  const d = await startDaemon(t);
  const info = JSON.parse((await d.brig(['system', 'info', '--json'])).stdout);
  assert.ok(['overlay', 'native'].includes(info.storage.driver));

  let r = await d.brig(['volume', 'create', '--label', 'team=web', '--label', 'tier', 'web-data']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'web-data\n');
  r = await d.brig(['volume', 'create']);
  assert.equal(r.code, 0, r.stderr);
  const generated = r.stdout.trim();
  assert.match(generated, /^[0-9a-f]{64}$/);

  r = await d.brig(['volume', 'create', 'web-data']);
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /^Error: /);

  r = await d.brig(['volume', 'ls', '--json']);
  const list = JSON.parse(r.stdout) as Array<{
    name: string;
    labels: Record<string, string>;
    mountpoint: string;
  }>;
  assert.deepEqual(list.map((v) => v.name).sort(), [generated, 'web-data'].sort());
  const web = list.find((v) => v.name === 'web-data')!;
  assert.deepEqual(web.labels, { team: 'web', tier: '' });
  assert.equal(web.mountpoint, join(d.root, 'volumes', 'web-data', '_data'));
  writeFileSync(join(web.mountpoint, 'f'), 'x');

  r = await d.brig(['volume', 'ls', '-q', '--filter', 'label=team=web']);
  assert.equal(r.stdout, 'web-data\n');
  r = await d.brig(['volume', 'ls']);
  assert.match(r.stdout, /^DRIVER\s+VOLUME NAME/);
  assert.match(r.stdout, /local\s+web-data/);

  r = await d.brig(['volume', 'inspect', 'web-data']);
  assert.equal(JSON.parse(r.stdout)[0].name, 'web-data');
  r = await d.brig(['volume', 'inspect', 'nope']);
  assert.equal(r.code, 125, r.stderr);

  // prune without -a keeps named volumes; named volumes made by `create` without a name are named
  r = await d.brig(['volume', 'prune', '-f']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Total reclaimed space/);
  assert.equal(JSON.parse((await d.brig(['volume', 'ls', '--json'])).stdout).length, 2);
  // without -f, "n" keeps everything
  r = await d.brig(['volume', 'prune', '-a'], { input: 'n\n' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse((await d.brig(['volume', 'ls', '--json'])).stdout).length, 2);

  r = await d.brig(['volume', 'rm', 'web-data', 'nope']);
  assert.equal(r.code, 125, r.stderr);
  assert.equal(r.stdout, 'web-data\n');
  assert.equal(existsSync(web.mountpoint), false);
  await assert.rejects(d.client.request('GET', '/volumes/web-data'), (e: unknown) =>
    isBrigError(e, 'ERR_VOLUME_NOT_FOUND'),
  );
  await assert.rejects(d.client.request('POST', '/volumes', { body: { name: 'x/y' } }), (e: unknown) =>
    isBrigError(e, 'ERR_INVALID_ARGUMENT'),
  );
  await assert.rejects(d.client.request('POST', '/volumes', { body: { labels: { a: 1 } } }), (e: unknown) =>
    isBrigError(e, 'ERR_API_BODY'),
  );
  r = await d.brig(['volume', 'rm', '-f', 'nope']);
  assert.equal(r.code, 0, r.stderr);
  r = await d.brig(['volume', 'prune', '-a', '-f']);
  assert.match(r.stdout, new RegExp(`Deleted Volumes:\\n${generated}\\n`));
  assert.deepEqual(JSON.parse((await d.brig(['volume', 'ls', '--json'])).stdout), []);
});

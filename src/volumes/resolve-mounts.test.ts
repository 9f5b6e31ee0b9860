import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { openDatabase } from '../metadata/db.ts';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from './mount-spec.ts';
import { CONTAINER_LABEL, IMAGE_VOLUME_LABEL, imageVolumes, resolveMounts } from './resolve-mounts.ts';
import { VolumeService } from './volume-service.ts';

function setup(t: TestContext) {
  const root = tempDir(t, 'brig-mounts-');
  const db = openDatabase(join(root, 'brig.db'));
  t.after(() => db.close());
  return { root, v: new VolumeService(db, root) };
}

test('imageVolumes merges config.Volumes and the brig section', () => {
  const r = imageVolumes({
    Volumes: { '/var/cache/': {}, '/data': {}, relative: {} },
    brig: {
      volumes: {
        data: { destination: '/data', required: true, readOnly: false },
        logs: { destination: '/var/log/app' },
      },
    },
  });
  assert.deepEqual(r, [
    { destination: '/var/cache' },
    { destination: '/data', name: 'data', required: true, readOnly: false },
    { destination: '/var/log/app', name: 'logs' },
  ]);
  assert.deepEqual(imageVolumes({ Volumes: null }), []);
});

test('resolves binds, named, anonymous, tmpfs and image volumes, parents first', async (t) => {
  const { root, v } = setup(t);
  const host = join(root, 'host', 'www');
  mkdirSync(host, { recursive: true });
  v.create('existing');
  const reqs = [
    parseVolumeFlag(`${host}:/srv/www/static:ro`),
    parseVolumeFlag('db:/var/db'),
    parseVolumeFlag('existing:/srv'),
    parseVolumeFlag('/scratch'),
    parseTmpfsFlag('/run:size=1m,mode=755'),
    parseMountFlag('type=volume,target=/cache,volume-nocopy'),
  ];
  const declared = imageVolumes({
    Volumes: { '/var/db': {}, '/var/lib/x': {} },
    brig: { volumes: { logs: { destination: '/var/log/app', readOnly: true } } },
  });
  const { mounts } = await resolveMounts(reqs, declared, v, 'c1');
  const by = Object.fromEntries(mounts.map((m) => [m.destination, m]));
  assert.deepEqual(by['/srv/www/static'], {
    type: 'bind',
    source: host,
    destination: '/srv/www/static',
    options: ['rbind', 'ro', 'rprivate'],
  });
  assert.equal(by['/var/db']!.volume, 'db');
  assert.equal(by['/var/db']!.source, v.inspect('db').mountpoint);
  assert.equal(by['/var/db']!.populate, true);
  assert.equal(by['/srv']!.volume, 'existing');
  assert.equal(by['/srv']!.populate, undefined);
  assert.equal(by['/cache']!.populate, undefined);
  assert.deepEqual(by['/run'], {
    type: 'tmpfs',
    source: 'tmpfs',
    destination: '/run',
    options: ['nosuid', 'nodev', 'noexec', 'rw', 'size=1048576', 'mode=0755'],
  });
  const logs = by['/var/log/app']!;
  assert.deepEqual(logs.options, ['rbind', 'ro', 'rprivate']);
  const logsVol = v.inspect(logs.volume!);
  assert.equal(logsVol.anonymous, true);
  assert.deepEqual(logsVol.labels, { [CONTAINER_LABEL]: 'c1', [IMAGE_VOLUME_LABEL]: 'logs' });
  assert.ok(by['/var/lib/x']);
  assert.equal(mounts.length, 8);
  // order: a mount never precedes one above its destination
  const idx = (d: string) => mounts.findIndex((m) => m.destination === d);
  assert.ok(idx('/srv') < idx('/srv/www/static'));
  // every volume is held by the container
  for (const m of mounts) if (m.volume) assert.deepEqual(v.inspect(m.volume).usedBy, ['c1']);
  assert.equal(v.list({ dangling: false }).length, 6);
  // removing the container frees and (with --rm) deletes its anonymous volumes only
  await v.releaseContainer('c1', { removeAnonymous: true });
  assert.deepEqual(
    v.list().map((x) => x.name),
    ['db', 'existing'],
  );
});

test('-v creates a missing host directory, --mount refuses it', async (t) => {
  const { root, v } = setup(t);
  const p = join(root, 'new', 'dir');
  await assert.rejects(
    resolveMounts([parseMountFlag(`type=bind,source=${p},target=/d`)], [], v, 'c'),
    (e: unknown) => isBrigError(e, 'ERR_MOUNT_INVALID'),
  );
  const { mounts, undo } = await resolveMounts([parseVolumeFlag(`${p}:/d`)], [], v, 'c');
  assert.equal(mounts[0]!.source, p);
  assert.ok(existsSync(p));
  await undo();
  assert.equal(existsSync(join(root, 'new')), false);
});

test('a required image volume nobody provides is refused before anything is created', async (t) => {
  const { v } = setup(t);
  const declared = imageVolumes({
    Volumes: { '/tmpdata': {} },
    brig: { volumes: { data: { destination: '/var/db/app', required: true } } },
  });
  await assert.rejects(resolveMounts([parseVolumeFlag('x1:/other')], declared, v, 'c'), (e: unknown) =>
    isBrigError(e, 'ERR_PARAMETER_MISSING'),
  );
  assert.deepEqual(v.list(), []);
  const { mounts } = await resolveMounts([parseVolumeFlag('appdata:/var/db/app')], declared, v, 'c');
  assert.equal(mounts.find((m) => m.destination === '/var/db/app')!.volume, 'appdata');
});

test('a failure part-way undoes everything; duplicates are refused', async (t) => {
  const { root, v } = setup(t);
  v.create('pre');
  const before = v.list();
  await assert.rejects(
    resolveMounts([parseVolumeFlag('a1:/a'), parseVolumeFlag('a2:/a')], [], v, 'c'),
    (e: unknown) => isBrigError(e, 'ERR_MOUNT_INVALID'),
  );
  const missing = join(root, 'missing');
  await assert.rejects(
    resolveMounts(
      [
        parseVolumeFlag('n1:/a'),
        parseVolumeFlag('pre:/b'),
        parseVolumeFlag('/c'),
        parseMountFlag(`type=bind,src=${missing},dst=/d`),
      ],
      [{ destination: '/e' }],
      v,
      'c',
    ),
    (e: unknown) => isBrigError(e, 'ERR_MOUNT_INVALID'),
  );
  assert.deepEqual(v.list(), before);
  // and undo after success releases and removes the same way
  const r = await resolveMounts(
    [parseVolumeFlag('n2:/a'), parseVolumeFlag('pre:/b')],
    [{ destination: '/e' }],
    v,
    'c',
  );
  assert.equal(v.list().length, 3);
  await r.undo();
  assert.deepEqual(v.list(), before);
});

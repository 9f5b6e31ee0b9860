/**
 * The containers service (src/containers) on the FreeBSD platform over the simulated host:
 * create, start, stop, kill, rm, restart policies, a daemon restart with a container running and
 * one that died while the daemon was down; the jail id recorded; a failure injected at every host
 * command of a start leaves the host exactly as it was and no container running.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { volumeMounts } from '../../src/containers/adapters.ts';
import { ContainerService, type ResolvedImage, type RootfsStore } from '../../src/containers/service.ts';
import { isBrigError } from '../../src/errors/errors.ts';
import { EventLog } from '../../src/events/events.ts';
import type { ImageConfig } from '../../src/images/oci.ts';
import { openDatabase } from '../../src/metadata/db.ts';
import { VolumeService } from '../../src/volumes/volume-service.ts';
import { type FreeBSDWorld, freebsdWorld } from '../support/freebsd.ts';
import { pollFor } from '../support/poll.ts';

const IMAGE: ResolvedImage = {
  id: `sha256:${'1'.repeat(64)}`,
  name: 'fbsd:latest',
  config: {
    architecture: 'amd64',
    os: 'freebsd',
    config: { Cmd: ['/bin/sh', '-c', 'serve'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: [] },
  } as ImageConfig,
  layers: { layers: [], diffIds: [] },
};

interface Harness {
  w: FreeBSDWorld;
  svc: ContainerService;
  reopen(): Promise<ContainerService>;
  waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>): Promise<T>;
}

async function harness(t: TestContext, w?: FreeBSDWorld): Promise<Harness> {
  const world = w ?? (await freebsdWorld(t));
  const root = join(world.dir, 'daemon');
  const rootfs: RootfsStore = {
    prepare: (id) => world.snapshots.prepare(`ctr-${id}`, 'layer'),
    async remove(id) {
      await world.snapshots.remove(`ctr-${id}`).catch((e: { code?: string }) => {
        if (e.code !== 'ERR_SNAPSHOT_NOT_FOUND') throw e;
      });
    },
    async list() {
      const ids: string[] = [];
      await world.snapshots.walk((s) => {
        if (s.name.startsWith('ctr-')) ids.push(s.name.slice(4));
      });
      return ids;
    },
  };
  let db = openDatabase(join(world.dir, 'daemon.db'));
  const make = () => {
    const events = new EventLog(db, { retain: 1000 });
    return new ContainerService({
      root,
      db,
      events,
      platform: world.platform,
      images: {
        async resolve(ref) {
          if (ref === 'fbsd' || ref === 'fbsd:latest') return IMAGE;
          if (ref === 'fbsd-vol')
            return {
              ...IMAGE,
              config: { ...IMAGE.config, config: { ...IMAGE.config.config, Volumes: { '/data': {} } } },
            };
          const { BrigError } = await import('../../src/errors/errors.ts');
          throw new BrigError('ERR_IMAGE_NOT_FOUND', `no image ${ref}`);
        },
      },
      rootfs,
      mounts: volumeMounts(new VolumeService(db, root, events)),
      runtime: { name: 'auto' },
    });
  };
  const h: Harness = {
    w: world,
    svc: make(),
    async reopen() {
      await h.svc.close();
      db.close();
      db = openDatabase(join(world.dir, 'daemon.db'));
      h.svc = make();
      await h.svc.init();
      return h.svc;
    },
    waitFor: (what, fn) => pollFor(what, fn, { timeoutMs: 20_000, everyMs: 20 }),
  };
  await h.svc.init();
  t.after(async () => {
    await h.svc.close();
    db.close();
  });
  return h;
}

test('freebsd service: run, jid, stop, rm leave the host as it was', async (t) => {
  const h = await harness(t);
  const before = h.w.host.state();
  const c = await h.svc.create({ image: 'fbsd', name: 'web', memory: 64 * 2 ** 20 });
  await h.svc.start(c.id);
  const running = h.svc.get(c.id);
  assert.equal(running.state, 'running');
  const jail = Object.values(h.w.host.state().jails).find((j) => j.name === c.id);
  assert.ok(jail);
  assert.equal(running.status.jid, jail.jid, 'the jail id is recorded with the container');
  assert.equal(jail.params['allow.raw_sockets'], false);
  await h.svc.stop(c.id, { timeout: 5 });
  const stopped = await h.waitFor('exit recorded', () => {
    const x = h.svc.get(c.id);
    return x.state === 'exited' && x;
  });
  assert.equal(stopped.status.exitCode, 143);
  await h.svc.remove(c.id);
  assert.deepEqual(h.w.host.state(), before);
});

test('freebsd service: kill, restart policy on-failure, exit while the daemon is down', async (t) => {
  const h = await harness(t);
  const before = h.w.host.state();
  const c = await h.svc.create({ image: 'fbsd', restart: { name: 'on-failure', maxRetries: 1 } });
  await h.svc.start(c.id);
  const jid1 = h.svc.get(c.id).status.jid!;
  await h.w.host.exitProcess(c.id, 3);
  // restarted once (a new jail), then given up after the second failure
  const again = await h.waitFor('restart', () => {
    const x = h.svc.get(c.id);
    return x.state === 'running' && x.status.jid !== jid1 && x;
  });
  assert.ok(again.status.jid! > jid1);
  await h.svc.kill(c.id, 'SIGKILL');
  await h.waitFor('killed', () => h.svc.get(c.id).state === 'exited');
  assert.equal(h.svc.get(c.id).status.exitCode, 137);
  // a second container dies while the daemon is down: reconciliation records its real status
  const d = await h.svc.create({ image: 'fbsd', name: 'db' });
  await h.svc.start(d.id);
  await h.svc.close();
  await h.w.host.exitProcess(d.id, 7);
  await h.reopen();
  const dd = await h.waitFor('reconciled', () => {
    const x = h.svc.get(d.id);
    return x.state === 'exited' && x;
  });
  assert.equal(dd.status.exitCode, 7);
  for (const x of h.svc.list({ all: true })) await h.svc.remove(x.id, { force: true });
  assert.deepEqual(h.w.host.state(), before);
});

test('freebsd service: a container keeps running across a daemon restart', async (t) => {
  const h = await harness(t);
  const c = await h.svc.create({ image: 'fbsd' });
  await h.svc.start(c.id);
  const jid = h.svc.get(c.id).status.jid;
  await h.reopen();
  assert.equal(h.svc.get(c.id).state, 'running');
  assert.equal(h.svc.get(c.id).status.jid, jid);
  assert.ok(Object.values(h.w.host.state().jails).some((j) => j.jid === jid));
  await h.svc.remove(c.id, { force: true });
});

test('freebsd service: a failure at every host command of a start leaves the host as it was', async (t) => {
  // the commands of a successful start
  const h0 = await harness(t);
  const c0 = await h0.svc.create({ image: 'fbsd', memory: 2 ** 26, pidsLimit: 10 });
  h0.w.host.log.length = 0;
  await h0.svc.start(c0.id);
  const n = h0.w.host.log.length;
  assert.ok(n > 8, `${n} commands`);
  let failures = 0;
  for (let i = 0; i < n; i++) {
    const h = await harness(t);
    const c = await h.svc.create({ image: 'fbsd', memory: 2 ** 26, pidsLimit: 10 });
    const before = h.w.host.state();
    let k = 0;
    h.w.host.failNext(() => k++ === i, { code: 1, stderr: 'injected\n' });
    const failed = await h.svc.start(c.id).then(
      () => false,
      (e) => {
        assert.ok(isBrigError(e), String(e));
        return true;
      },
    );
    const faulted = h.w.host.log.find((x) => x.faulted);
    const what = faulted ? [faulted.cmd, ...faulted.args].join(' ') : '?';
    if (failed) {
      failures++;
      assert.notEqual(h.svc.get(c.id).state, 'running', `after failing ${what}`);
      assert.deepEqual(h.w.host.state(), before, `host state after failing command ${i}: ${what}`);
      // the records: the container is not running, its root snapshot row is gone
      const rows: string[] = [];
      await h.w.snapshots.walk((x) => {
        rows.push(x.name);
      });
      assert.deepEqual(rows, ['layer'], `snapshot rows after failing ${what}`);
      assert.equal(h.svc.get(c.id).status.pid === undefined || h.svc.get(c.id).state !== 'running', true);
    } else {
      // a query that may fail (check: false) without failing the start: remove cleanly
      await h.svc.remove(c.id, { force: true });
      const after = h.w.host.state();
      assert.deepEqual(after, before, `host state after a tolerated failure of ${what}`);
    }
  }
  // only queries run with check: false may fail without failing the start
  assert.ok(failures >= n - 3, `${failures} of ${n} injected failures failed the start`);
});

test('freebsd service: restart always after exit 0; a user stop is final; --rm removes everything', async (t) => {
  const h = await harness(t);
  const before = h.w.host.state();
  const c = await h.svc.create({ image: 'fbsd', restart: { name: 'always', maxRetries: 0 } });
  await h.svc.start(c.id);
  const jid1 = h.svc.get(c.id).status.jid!;
  await h.w.host.exitProcess(c.id, 0);
  await h.waitFor('restarted', () => {
    const x = h.svc.get(c.id);
    return x.state === 'running' && x.status.jid !== jid1 && x;
  });
  await h.svc.stop(c.id, { timeout: 1 });
  await h.waitFor('stopped', () => h.svc.get(c.id).state === 'exited');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(h.svc.get(c.id).state, 'exited', 'no restart after a user stop');
  await h.svc.remove(c.id);
  const r = await h.svc.create({ image: 'fbsd', autoRemove: true });
  await h.svc.start(r.id);
  await h.w.host.exitProcess(r.id, 0);
  await h.waitFor('auto-removed', () => !h.svc.list({ all: true }).some((x) => x.id === r.id));
  assert.deepEqual(h.w.host.state(), before);
});

test('freebsd service: -u NAME resolves from the container root behind the simulated nullfs mount', async (t) => {
  const h = await harness(t);
  const c = await h.svc.create({ image: 'fbsd', user: 'www' });
  await h.svc.start(c.id);
  const spec = JSON.parse(readFileSync(join(h.svc.dir(c.id), 'config.json'), 'utf8')) as {
    process: { user: { uid: number; gid: number }; env: string[] };
  };
  assert.deepEqual(spec.process.user, { uid: 80, gid: 80 });
  assert.ok(spec.process.env.includes('HOME=/nonexistent'));
  await h.svc.remove(c.id, { force: true });
});

test('freebsd service: leftovers of a crash with no record (jail, rctl, mounts, dataset) are cleaned at start', async (t) => {
  const h = await harness(t);
  const before = h.w.host.state();
  const c = await h.svc.create({ image: 'fbsd', memory: 2 ** 26 });
  await h.svc.start(c.id);
  await h.svc.close();
  // brigd "crashed" before its record was written: the host holds everything, the database nothing
  const db = openDatabase(join(h.w.dir, 'daemon.db'));
  db.prepare('DELETE FROM containers WHERE id = ?').run(c.id);
  db.close();
  assert.ok(Object.values(h.w.host.state().jails).some((j) => j.name === c.id));
  await h.reopen();
  assert.deepEqual(h.svc.list({ all: true }), []);
  assert.deepEqual(h.w.host.state(), before, 'jail, rctl rules, mounts and the clone are gone');
});

test('freebsd service: a volume the image declares is populated from the image (through the simulated mount)', async (t) => {
  const h = await harness(t);
  const c = await h.svc.create({ image: 'fbsd-vol' });
  await h.svc.start(c.id);
  const vol = h.svc.get(c.id).spec.resolvedMounts?.find((m) => m.destination === '/data');
  assert.ok(vol, 'an anonymous volume for /data');
  assert.equal(readFileSync(join(vol.source, 'seed'), 'utf8'), 'from the image\n');
  const spec = JSON.parse(readFileSync(join(h.svc.dir(c.id), 'config.json'), 'utf8')) as {
    mounts: Array<{ destination: string; type: string; source: string }>;
  };
  assert.deepEqual(
    spec.mounts.filter((m) => m.destination === '/data').map((m) => [m.type, m.source]),
    [['bind', vol.source]],
  );
  await h.svc.remove(c.id, { force: true, volumes: true });
});

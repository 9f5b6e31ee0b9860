/**
 * A ContainerService on a temporary root with the real Linux platform (runc/crun, conmon,
 * cgroups), the real VolumeService, and two small stand-ins: the busybox OCI layout read
 * directly as the image, and an overlay of its unpacked rootfs as the container's snapshot
 * (so these tests depend on neither the image service nor the snapshotters).
 * `leftovers()` lists what a container could leave behind on the host.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { volumeMounts } from '../../src/containers/adapters.ts';
import {
  ContainerService,
  type ResolvedImage,
  type RootfsStore,
  type StartHooks,
} from '../../src/containers/service.ts';
import { EventLog } from '../../src/events/events.ts';
import type { ImageConfig } from '../../src/images/oci.ts';
import { openDatabase } from '../../src/metadata/db.ts';
import { cgroupDirs, ownCgroup, scopeParent } from '../../src/platform/linux/cgroups.ts';
import { LinuxPlatform } from '../../src/platform/linux/linux-platform.ts';
import { VolumeService } from '../../src/volumes/volume-service.ts';
import { busyboxImage } from './busybox.ts';
import { pollFor } from './poll.ts';

function layoutImage(layout: string, extra: Partial<ImageConfig['config']> = {}): ResolvedImage {
  const blob = (d: string) => readFileSync(join(layout, 'blobs', d.replace(':', '/')), 'utf8');
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(blob(index.manifests[0].digest));
  const config = JSON.parse(blob(manifest.config.digest)) as ImageConfig;
  config.config = { ...config.config, ...extra };
  return {
    id: manifest.config.digest,
    name: 'busybox:latest',
    config,
    layers: { layers: manifest.layers, diffIds: config.rootfs.diff_ids },
  };
}

export interface Harness {
  root: string;
  svc: ContainerService;
  platform: LinuxPlatform;
  volumes: VolumeService;
  events: EventLog;
  hooks: StartHooks;
  /** A fresh service on the same root (a daemon restart); the old one must be closed. */
  reopen(): Promise<ContainerService>;
  leftovers(): Promise<string[]>;
  waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>): Promise<T>;
}

export async function containerHarness(t: TestContext): Promise<Harness> {
  // not tempDir: its removal must come after the containers' (t.after runs hooks in order)
  const root = mkdtempSync(join(process.env.BRIG_TEST_TMP ?? tmpdir(), 'brig-ctr-'));
  const { layout, rootfs } = busyboxImage();
  const images = {
    async resolve(ref: string): Promise<ResolvedImage> {
      if (ref === 'busybox' || ref === 'busybox:latest') return layoutImage(layout);
      if (ref === 'busybox-stopsig') return layoutImage(layout, { StopSignal: 'SIGUSR1' });
      const { BrigError } = await import('../../src/errors/errors.ts');
      throw new BrigError('ERR_IMAGE_NOT_FOUND', `no image ${ref}`);
    },
  };
  const snaps = join(root, 'snaps');
  mkdirSync(snaps);
  const overlay: RootfsStore = {
    async prepare(id) {
      const d = join(snaps, id);
      await mkdir(join(d, 'upper'), { recursive: true });
      await mkdir(join(d, 'work'), { recursive: true });
      return [
        {
          type: 'overlay',
          source: 'overlay',
          options: [`lowerdir=${rootfs}`, `upperdir=${join(d, 'upper')}`, `workdir=${join(d, 'work')}`],
        },
      ];
    },
    async remove(id) {
      await rm(join(snaps, id), { recursive: true, force: true });
    },
    async list() {
      return readdir(snaps);
    },
  };
  const platform = new LinuxPlatform();
  const hooks: StartHooks = {};
  let db = openDatabase(join(root, 'brig.db'));
  let events = new EventLog(db, { retain: 10000 });
  let volumes = new VolumeService(db, root, events);
  const make = () =>
    new ContainerService({
      root,
      db,
      events,
      platform,
      images,
      rootfs: overlay,
      mounts: volumeMounts(volumes),
      runtime: { name: 'auto' },
      hooks,
    });
  let svc = make();
  await svc.init();
  const h: Harness = {
    root,
    svc,
    platform,
    volumes,
    events,
    hooks,
    async reopen() {
      db.close();
      db = openDatabase(join(root, 'brig.db'));
      events = new EventLog(db, { retain: 10000 });
      volumes = new VolumeService(db, root, events);
      svc = make();
      h.svc = svc;
      h.volumes = volumes;
      h.events = events;
      await svc.init();
      return svc;
    },
    async leftovers() {
      const out: string[] = [];
      const mi = readFileSync('/proc/self/mountinfo', 'utf8');
      for (const line of mi.split('\n')) if (line.includes(root)) out.push(`mount ${line.split(' ')[4]}`);
      const { rt } = await h.svc.runtime();
      for (const s of await rt.list()) out.push(`runtime ${s.id} ${s.status}`);
      const parent = scopeParent(await ownCgroup(), h.svc.daemonTag);
      for (const dir of await cgroupDirs(parent)) {
        try {
          for (const n of readdirSync(dir, { withFileTypes: true }))
            if (n.isDirectory()) out.push(`cgroup ${dir}/${n.name}`);
        } catch {}
      }
      for (const n of readdirSync(snaps)) out.push(`snapshot ${n}`);
      return out;
    },
    waitFor: (what, fn) => pollFor(what, fn, { timeoutMs: 60_000, everyMs: 25 }),
  };
  t.after(async () => {
    const t0 = Date.now();
    for (const c of h.svc.list({ all: true }))
      await h.svc.remove(c.id, { force: true, volumes: true }).catch(() => {});
    await h.svc.close();
    const { rt } = await h.svc.runtime();
    for (const s of await rt.list()) await rt.delete(s.id, true).catch(() => {});
    await platform.unmountBelow(root);
    const parent = scopeParent(await ownCgroup(), h.svc.daemonTag);
    for (const n of await h.svc.runtime().then(() => platform.orphanScopes(h.svc.daemonTag, new Set())))
      await platform.releaseResources('', n).catch(() => {});
    for (const dir of await cgroupDirs(parent)) {
      try {
        rmdirSync(dir);
      } catch {}
    }
    db.close();
    rmSync(root, { recursive: true, force: true });
    if (process.env.BRIG_TEST_DEBUG) console.error(`cleanup ${t.name}: ${Date.now() - t0} ms`);
  });
  return h;
}

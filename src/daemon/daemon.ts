/**
 * brigd's wiring: the only place that constructs implementations. Start-up order:
 *   root dir → root lock → configuration → brig.db (migrations) → event log → services
 *   → API socket.
 * Every step registers its undo; a failure part-way runs them in reverse, so a refused start
 * leaves nothing held (no lock, no socket, no open database).
 */
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isAbsolute, join, resolve } from 'node:path';
import { Router } from '../api/router.ts';
import { ROUTE_MODULES } from '../api/routes/index.ts';
import { sendError, serve } from '../api/server.ts';
import { imageSource, snapshotRootfs, volumeMounts } from '../containers/adapters.ts';
import { ContainerService } from '../containers/service.ts';
import { LocalContentStore } from '../content/local-store.ts';
import { BrigError } from '../errors/errors.ts';
import { EventLog } from '../events/events.ts';
import { ImportUploads } from '../images/import-upload.ts';
import { LocalImageService } from '../images/local-image-service.ts';
import { platformOf } from '../images/platform.ts';
import { applyLayer } from '../layers/layers.ts';
import { openDatabase } from '../metadata/db.ts';
import { createPlatform } from '../platform/create.ts';
import { defaultPaths, hostOS, resolveGroup } from '../platform/defaults.ts';
import { hostRunner } from '../platform/exec.ts';
import { hostDeviceInventory, hostIdTables } from '../platform/linux/dev-inventory.ts';
import { peerLookup } from '../platform/peer.ts';
import { ContainerPrivileges } from '../privileges/containers.ts';
import { PrivilegeService } from '../privileges/service.ts';
import { RegistryHosts, resolveRegistries } from '../registry/config.ts';
import { CredentialStore } from '../registry/credentials.ts';
import { referenceResolver } from '../registry/names.ts';
import { Registry } from '../registry/registry.ts';
import { neededChainIds, removeUnusedLayers } from '../snapshots/gc.ts';
import { selectSnapshotter } from '../snapshots/select.ts';
import { VERSION } from '../version.ts';
import { VolumeService } from '../volumes/volume-service.ts';
import { type DaemonConfig, loadConfig, validateConfig } from './config.ts';
import { ExportJournal } from './exports.ts';
import { acquireRootLock } from './lock.ts';
import { createLogger, type Logger } from './log.ts';
import type { Services } from './services.ts';

export type PlatformName = 'linux' | 'freebsd' | 'freebsd-simulated';

export interface DaemonOptions {
  root?: string;
  configFile?: string;
  socket?: string;
  platform?: PlatformName;
  /** A configuration value instead of a file (tests). */
  config?: unknown;
  log?: Logger;
}

export interface RunningDaemon {
  services: Services;
  server: Server;
  stop(): Promise<void>;
}

/**
 * Ends every response in `inFlight` with ERR_DAEMON_STOPPING: a status and an error body when
 * nothing was sent yet, else the in-band error line of a stream (src/api/server.ts sendError).
 * Waits until they are flushed (at most a second) so closing the connections does not cut them.
 */
async function answerStopping(inFlight: Set<ServerResponse>): Promise<void> {
  const flushed: Array<Promise<void>> = [];
  for (const res of inFlight) {
    if (res.writableEnded) continue;
    flushed.push(new Promise<void>((r) => res.once('close', () => r()).once('finish', () => r())));
    sendError(
      res,
      new BrigError('ERR_DAEMON_STOPPING', 'brigd is stopping: this request was not completed', {
        details: { pid: process.pid },
      }),
    );
  }
  if (!flushed.length) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(flushed),
    new Promise<void>((r) => {
      timer = setTimeout(r, 1000);
    }),
  ]);
  clearTimeout(timer);
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const defaults = defaultPaths();
  const root = resolve(opts.root ?? defaults.root);
  const socket = resolve(opts.socket ?? defaults.socket);
  const configFile = opts.configFile
    ? resolve(opts.configFile)
    : opts.config === undefined
      ? defaults.config
      : null;
  const undo: Array<() => Promise<void> | void> = [];
  let answerInFlight: () => Promise<void> = async () => {};
  const runUndo = async () => {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch {}
    }
  };
  try {
    // Configuration first: a bad file must be refused before anything is touched.
    const config: DaemonConfig =
      opts.config !== undefined
        ? validateConfig(opts.config)
        : await loadConfig(configFile!, { required: opts.configFile !== undefined });
    const log = opts.log ?? createLogger(config.log.level);

    await mkdir(root, { recursive: true, mode: 0o711 });
    undo.push(await acquireRootLock(root));

    const db = openDatabase(join(root, 'brig.db'));
    undo.push(() => {
      db.close();
    });
    const events = new EventLog(db, { retain: config.events.retain });

    const services: Services = {
      version: VERSION,
      startedAt: Date.now(),
      paths: { root, socket, configFile: configFile && isAbsolute(configFile) ? configFile : null },
      config,
      log,
      db,
      events,
      platformName: opts.platform ?? (hostOS() === 'freebsd' ? 'freebsd' : 'linux'),
      info: {},
      onShutdown: [],
    };
    undo.push(async () => {
      for (const fn of services.onShutdown.reverse()) await fn();
    });

    // the platform (freebsd-simulated: the simulated host, persisted under the root)
    // runtime.seccomp: a profile file is read and validated here, before anything runs (Linux)
    const seccomp =
      services.platformName === 'linux'
        ? await (await import('../platform/linux/seccomp.ts')).loadSeccompSetting(config.runtime.seccomp)
        : undefined;
    const made = await createPlatform(services.platformName, root, seccomp ? { seccomp } : {});
    services.platform = made.platform;

    // storage: snapshotter (storage.driver) and volumes; leftovers of a crash are removed first
    const zfsDataset = config.storage.zfs.dataset ?? made.zfsDataset;
    const storage = await selectSnapshotter(config.storage.driver, {
      root,
      db,
      platformName: services.platformName,
      ...(services.platformName === 'linux' ? {} : { runner: made.platform.runner }),
      ...(zfsDataset ? { zfsDataset } : {}),
    });
    services.snapshots = storage.snapshotter;
    services.info.storage = {
      driver: storage.snapshotter.driver,
      configured: config.storage.driver,
      reason: storage.reason,
    };
    services.volumes = new VolumeService(db, root, events);
    // content store (removes crashed ingestions on open) and images. Nothing is in flight yet, so
    // every lease in brig.db was left by an earlier brigd killed or stopped mid-import or mid-pull:
    // it has no owner and would pin its blobs for up to a day. They are dropped here and the
    // content GC below collects what they pinned (docs/architecture.md, "Start-up clean-up").
    const content = new LocalContentStore(root, db);
    services.content = content;
    if (content.removedAtOpen.length)
      log('info', 'removed ingestions left by an earlier run', { refs: content.removedAtOpen.join(' ') });
    for (const l of content.dropAllLeases())
      log('info', 'removed a lease left by an earlier run', {
        lease: l.id,
        blobs: l.blobs,
        labels: l.labels,
      });
    // the layer GC after image rm/prune (docs/storage.md, "When layers are removed"); its first
    // run (below, before containers can start and unpack) also sweeps unpack's crash temporaries
    let layerSweep = true;
    const images = new LocalImageService({
      content: services.content,
      db,
      platform: platformOf(services.platformName === 'linux' ? 'linux' : 'freebsd', process.arch),
      emit: (action, id, attributes) => events.emit('image', action, id, attributes),
      unprivileged: process.getuid?.() !== 0,
      // short names mean registries.defaultRegistry here as in pull and push (docs/registries.md)
      normalize: referenceResolver(config.registries),
      layers: async (keep) => {
        const r = await removeUnusedLayers(storage.snapshotter, neededChainIds(keep), {
          temporaries: layerSweep,
        });
        for (const f of r.failed)
          log('warn', 'layer snapshot not removed (tried again at the next GC)', { ...f });
        if (r.removed.length)
          log('info', 'layer snapshots removed', { count: r.removed.length, bytes: r.bytes });
        return r;
      },
    });
    services.images = images;
    // exports write a temporary beside DEST; the journal lets the next start remove the ones a
    // killed brigd left (src/daemon/exports.ts)
    const exportJournal = new ExportJournal(root);
    {
      const exportImage = images.export.bind(images);
      images.export = (image, dest) => exportJournal.track(dest, () => exportImage(image, dest));
    }
    // registries: endpoints, certs.d beside the configuration file, credentials (docs/registries.md)
    {
      const resolved = resolveRegistries(config.registries, {
        root,
        configFile: services.paths.configFile ?? join(root, 'brig.yaml'),
      });
      services.registry = new Registry({
        hosts: new RegistryHosts(resolved),
        credentials: new CredentialStore(resolved.authFile, resolved.extraAuthFiles),
        content: services.content,
        userAgent: `brig/${VERSION}`,
        log: (line) => log('debug', line),
      });
      const reg = services.registry;
      services.onShutdown.push(() => reg.close());
    }
    for (const c of [await storage.snapshotter.cleanup(), await services.volumes.cleanup()]) {
      if (c.removed.length) log('info', 'removed storage left by a crash', { paths: c.removed.join(' ') });
    }
    // blobs no image reaches (those the dropped leases pinned, a crash between an image's removal
    // and its GC), then layers no image needs, left by an earlier run (a failed removal, a crash
    // mid-unpack or between an image's removal and its GC)
    {
      const { removed, bytes } = await images.gc();
      if (removed.length) log('info', 'removed blobs no image uses', { count: removed.length, bytes });
      const temporaries = await exportJournal.sweep();
      if (temporaries.length)
        log('info', 'removed export temporaries left by an earlier run', { paths: temporaries.join(' ') });
      // archives a client was sending to `brig image import -` when brigd stopped (src/images/import-upload.ts)
      const uploads = await new ImportUploads(root).sweep();
      if (uploads.length)
        log('info', 'removed import uploads left by an earlier run', { paths: uploads.join(' ') });
    }
    await images.collectLayers();
    layerSweep = false;

    // privileges: policy checks, --grant callers, devfs rulesets (src/privileges); the ruleset
    // mapping is reconciled with the containers table (and, on FreeBSD, the kernel's rulesets)
    const privOs = services.platformName === 'linux' ? 'linux' : 'freebsd';
    services.privileges = new PrivilegeService({
      policy: config.policy,
      db,
      events,
      os: privOs,
      // the platform's runner: under freebsd-simulated devfs(8) reaches the simulated host only
      runner: made.platform.runner,
      adminGroups: config.admin.groups,
      resolveGroup: (g) => resolveGroup(g),
      peer: peerLookup(services.platformName, hostRunner),
      socketPath: socket,
      ...(privOs === 'linux' ? { inventory: () => hostDeviceInventory(), ids: () => hostIdTables() } : {}),
      log,
    });
    {
      const live = (db.prepare('SELECT id FROM containers').all() as Array<{ id: string }>).map((r) => r.id);
      const rec = await services.privileges.reconcile(live);
      if (rec.released.length || rec.removed.length || rec.loaded.length)
        log('info', 'devfs rulesets reconciled', {
          released: rec.released.length,
          loaded: rec.loaded.join(' '),
          removed: rec.removed.join(' '),
        });
    }

    // containers: runtime probe, exit watcher, reconciliation with what really runs
    {
      const privileges = new ContainerPrivileges(services.privileges);
      const containers = new ContainerService({
        root,
        db,
        events,
        platform: made.platform,
        images: imageSource(services.images),
        // a brigd that is not root (freebsd-simulated) applies layers without chown, as pull does
        rootfs: snapshotRootfs(storage.snapshotter, services.content, (src, o) =>
          applyLayer(src, { unprivileged: process.getuid?.() !== 0, ...o }),
        ),
        mounts: volumeMounts(services.volumes),
        grant: (image, spec, id) => privileges.grant(image, spec, id),
        privileges: {
          beforeCreate: (image, spec, caller) => privileges.beforeCreate(image, spec, caller as never),
          admit: (id, decision, image, caller) =>
            privileges.admit(id, decision as never, image, caller as never),
          release: (id) => privileges.release(id),
        },
        runtime: config.runtime,
        log: (level, msg, fields) => log(level, msg, fields as never),
      });
      // No working runtime is not fatal: images, volumes and the rest still serve, and the
      // container routes answer ERR_RUNTIME_UNAVAILABLE; `brig system info` shows why.
      try {
        await containers.init();
        services.containers = containers;
        services.onShutdown.push(() => containers.close());
      } catch (e) {
        await containers.close();
        log('error', 'containers are unavailable', { error: (e as Error).message });
        services.info.runtime = { configured: config.runtime.name, error: (e as Error).message };
      }
    }
    if (services.containers) {
      const { info } = await services.containers.runtime();
      services.info.runtime = {
        name: info.name,
        path: info.path,
        version: info.version,
        configured: config.runtime.name,
        conmon: info.conmon,
        ...(info.rejected.length
          ? { rejected: info.rejected.map((r) => `${r.name}: ${r.reason}`).join('; ') }
          : {}),
      };
    }

    // again once the containers are reconciled (a root snapshot without its container may have
    // stood on the chain of a removed image), then whenever a container is destroyed
    await images.collectLayers();
    {
      // destroys in a burst (--rm containers) make one more GC, not one each
      let running: Promise<void> | undefined;
      let again = false;
      const collect = () => {
        if (running) {
          again = true;
          return;
        }
        running = (async () => {
          do {
            again = false;
            await images.collectLayers();
          } while (again);
        })().finally(() => {
          running = undefined;
        });
      };
      const unsubscribe = events.subscribe((e) => {
        if (e.type === 'container' && e.action === 'destroy') collect();
      });
      services.onShutdown.push(async () => {
        unsubscribe();
        again = false;
        await running;
      });
    }

    const router = new Router();
    for (const m of ROUTE_MODULES) m.register(router, services);

    const gid = config.socket.group !== undefined ? await resolveGroup(config.socket.group) : undefined;
    if (config.socket.group !== undefined && gid === undefined) {
      throw new BrigError('ERR_CONFIG_INVALID', `socket.group: no group named ${config.socket.group}`, {
        details: { key: 'socket.group' },
      });
    }
    const server = await serve(router, { socketPath: socket, mode: config.socket.mode, gid, log });
    // Requests in flight, so a stop answers them (ERR_DAEMON_STOPPING) instead of resetting them.
    const inFlight = new Set<ServerResponse>();
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      inFlight.add(res);
      // the handler may still write after the stop has ended the response: ignore that
      res.on('error', () => {});
      res.on('close', () => inFlight.delete(res));
    });
    answerInFlight = () => answerStopping(inFlight);
    undo.push(
      () =>
        new Promise<void>((res) => {
          server.close(() => res());
          server.closeAllConnections();
        }),
    );
    undo.push(async () => {
      const { rm } = await import('node:fs/promises');
      await rm(socket, { force: true });
    });

    events.emit('daemon', 'start', String(process.pid), { root, version: VERSION });
    log('info', 'brigd started', { root, socket, pid: process.pid, platform: services.platformName });
    let stopped = false;
    return {
      services,
      server,
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          events.emit('daemon', 'stop', String(process.pid), {});
        } catch {}
        log('info', 'brigd stopping');
        await answerInFlight();
        await runUndo();
      },
    };
  } catch (e) {
    await runUndo();
    throw e;
  }
}

/**
 * Everything a route handler may use. Only src/daemon/daemon.ts constructs these.
 * Optional fields are services still being delivered; their routes check for them.
 */

import type { ContainerService } from '../containers/service.ts';
import type { ContentStore } from '../content/store.ts';
import type { EventLog } from '../events/events.ts';
import type { ImageService } from '../images/image-service.ts';
import type { DB } from '../metadata/db.ts';
import type { Platform } from '../platform/platform.ts';
import type { PrivilegeService } from '../privileges/service.ts';
import type { Registry } from '../registry/registry.ts';
import type { Snapshotter } from '../snapshots/snapshotter.ts';
import type { VolumeService } from '../volumes/volume-service.ts';
import type { DaemonConfig } from './config.ts';
import type { Logger } from './log.ts';

export interface DaemonPaths {
  root: string;
  socket: string;
  configFile: string | null;
}

export interface Services {
  version: string;
  startedAt: number;
  paths: DaemonPaths;
  config: DaemonConfig;
  log: Logger;
  db: DB;
  events: EventLog;
  /** `linux`, `freebsd` or `freebsd-simulated`. */
  platformName: string;
  /** Extra lines for `brig system info`, contributed by the services as they start. */
  info: Record<string, unknown>;
  /** Run at shutdown, in reverse order of registration. */
  onShutdown: Array<() => Promise<void> | void>;
  /** The snapshotter chosen by `storage.driver` (src/snapshots/select.ts). */
  snapshots?: Snapshotter;
  volumes?: VolumeService;
  /** The content store (src/content/local-store.ts) under <root>/content. */
  content?: ContentStore;
  images?: ImageService;
  /** Pull, push, login, logout (src/registry/registry.ts). */
  registry?: Registry;
  /** The host platform (src/platform/create.ts): linux, freebsd or freebsd-simulated. */
  platform?: Platform;
  /** Policy checks, --grant, devfs rulesets (src/privileges). */
  privileges?: PrivilegeService;
  /** Container lifecycle (src/containers/service.ts). */
  containers?: ContainerService;
}

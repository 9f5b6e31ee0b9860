/**
 * Every route file, one per resource. Add yours here.
 */
import type { Services } from '../../daemon/services.ts';
import type { Router } from '../router.ts';
import * as containers from './containers.ts';
import * as devfs from './devfs.ts';
import * as events from './events.ts';
import * as explain from './explain.ts';
import * as images from './images.ts';
import * as plans from './plans.ts';
import * as registry from './registry.ts';
import * as system from './system.ts';
import * as volumes from './volumes.ts';

export const ROUTE_MODULES: Array<{ register(r: Router, s: Services): void }> = [
  system,
  containers,
  events,
  volumes,
  images,
  devfs,
  explain,
  registry,
  plans,
];

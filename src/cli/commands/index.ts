/**
 * Every CLI verb, one file each. Add yours here.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import * as devfs from './devfs.ts';
import * as events from './events.ts';
import * as image from './image.ts';
import * as images from './images.ts';
import * as login from './login.ts';
import * as logout from './logout.ts';
import * as pull from './pull.ts';
import * as push from './push.ts';
import * as system from './system.ts';
import * as volume from './volume.ts';

export const COMMAND_MODULES: Array<{ register(program: Command, ctx: CliContext): void }> = [
  system,
  events,
  volume,
  image,
  images,
  devfs,
  pull,
  push,
  login,
  logout,
];

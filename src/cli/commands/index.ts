/**
 * Every CLI verb, one file each. Add yours here.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import * as cpCmd from './cp.ts';
import * as createCmd from './create.ts';
import * as devfs from './devfs.ts';
import * as events from './events.ts';
import * as execCmd from './exec.ts';
import * as image from './image.ts';
import * as images from './images.ts';
import * as inspectCmd from './inspect.ts';
import * as killCmd from './kill.ts';
import * as login from './login.ts';
import * as logout from './logout.ts';
import * as logsCmd from './logs.ts';
import * as psCmd from './ps.ts';
import * as pull from './pull.ts';
import * as push from './push.ts';
import * as restartCmd from './restart.ts';
import * as rmCmd from './rm.ts';
import * as runCmd from './run.ts';
import * as startCmd from './start.ts';
import * as statsCmd from './stats.ts';
import * as stopCmd from './stop.ts';
import * as system from './system.ts';
import * as topCmd from './top.ts';
import * as volume from './volume.ts';
import * as waitCmd from './wait.ts';

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
  runCmd,
  createCmd,
  startCmd,
  stopCmd,
  killCmd,
  restartCmd,
  rmCmd,
  psCmd,
  logsCmd,
  execCmd,
  waitCmd,
  inspectCmd,
  topCmd,
  statsCmd,
  cpCmd,
];

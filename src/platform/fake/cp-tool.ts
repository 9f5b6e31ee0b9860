/**
 * cp(1) on the simulated host, only as brig uses it: `cp -a [--] SRC DST` (-a is -RpP: recursive,
 * keeping modes, owners and times, symlinks not followed). The simulated host's files are real
 * files, so SRC is read from the real filesystem (callers resolve paths below simulated mounts
 * with Platform.hostView first) and DST must be under a `writable` prefix. `SRC/.` copies the
 * contents of SRC into DST, as cp does.
 */
import { cpSync, existsSync } from 'node:fs';
import { die, getopt, has, ok, type ToolContext, type ToolOutput } from './tool.ts';

const USAGE = `usage: cp [-R [-H | -L | -P]] [-f | -i | -n] [-alpsvx] source_file target_file
       cp [-R [-H | -L | -P]] [-f | -i | -n] [-alpsvx] source_file ... target_directory`;

export function cpTool(ctx: ToolContext, args: string[]): ToolOutput {
  const r = getopt(args, 'afHiLlnPpRsvx', 'cp', USAGE);
  if (r.rest.length !== 2) die(USAGE);
  if (!has(r, 'a')) die('cp: simulated host: only cp -a is simulated');
  const [src, dst] = r.rest as [string, string];
  const from = src.replace(/\/\.$/, '');
  if (!existsSync(from)) die(`cp: ${src}: No such file or directory`);
  if (!ctx.canWrite(dst)) die(`cp: simulated host: ${dst} is not below a writable prefix`);
  ctx.effects.push(() =>
    cpSync(from, dst, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true }),
  );
  return ok();
}

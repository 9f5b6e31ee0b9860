/**
 * brig cp CONTAINER:SRC DEST | SRC CONTAINER:DEST — copies files out of or into a running
 * container (a tar stream through the API; host side with tar(1)).
 */
import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import { BrigError } from '../../errors/errors.ts';
import { spawnChild } from '../../platform/exec.ts';
import type { CliContext } from '../context.ts';

function split(arg: string): { container?: string; path: string } {
  const i = arg.indexOf(':');
  if (i > 0 && !arg.startsWith('/') && !arg.startsWith('.'))
    return { container: arg.slice(0, i), path: arg.slice(i + 1) };
  return { path: arg };
}

function done(child: ReturnType<typeof spawnChild>, what: string): Promise<void> {
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((res, rej) =>
    child.on('close', (code) =>
      code === 0
        ? res()
        : rej(new BrigError('ERR_COMMAND_FAILED', `${what}: ${err.trim() || `tar exited ${code}`}`)),
    ),
  );
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('cp')
    .description('Copy files between a running container and the host')
    .argument('<src>')
    .argument('<dest>')
    .action(async (srcArg: string, destArg: string) => {
      const src = split(srcArg);
      const dest = split(destArg);
      const client = ctx.client();
      if (src.container && !dest.container) {
        const res = await containers.copyFrom(client, src.container, src.path);
        const target = resolve(dest.path);
        // tar puts the entry under its own name: extract beside, into the destination directory
        const tar = spawnChild('tar', ['-x', '-f', '-', '-C', target], { stdio: ['pipe', 'ignore', 'pipe'] });
        res.pipe(tar.stdin!);
        await done(tar, 'extracting');
      } else if (dest.container && !src.container) {
        const from = resolve(src.path);
        const tar = spawnChild('tar', ['-c', '-f', '-', '-C', dirname(from), '--', basename(from)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const finished = done(tar, 'archiving');
        await containers.copyTo(client, dest.container, dest.path, tar.stdout!);
        await finished;
      } else {
        throw new BrigError('ERR_INVALID_ARGUMENT', 'exactly one of SRC and DEST must be CONTAINER:PATH');
      }
    });
}

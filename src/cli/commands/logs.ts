/** brig logs [-f] [--since T] [--tail N] [-t] CONTAINER */
import type { Command } from 'commander';
import { BrigError } from '../../errors/errors.ts';
import type { CliContext } from '../context.ts';
import { printLogs } from './container-io.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description('Show a container’s output')
    .argument('<container>')
    .option('-f, --follow', 'follow new output until the container stops')
    .option('--since <time>', 'only entries since: RFC 3339, unix seconds, or a duration (10m)')
    .option('-n, --tail <n>', 'only the last N lines ("all" or a negative number for everything)')
    .option('-t, --timestamps', 'show timestamps')
    .action(
      async (ref: string, o: { follow?: boolean; since?: string; tail?: string; timestamps?: boolean }) => {
        const tail = parseTail(o.tail);
        await printLogs(ctx.client(), ref, {
          follow: o.follow === true,
          timestamps: o.timestamps === true,
          ...(o.since ? { since: o.since } : {}),
          ...(tail !== undefined ? { tail } : {}),
        });
      },
    );
}

/** `--tail`: a whole number of lines; `all`, absent or a negative number (docker's -1) mean all. */
export function parseTail(s: string | undefined): number | undefined {
  if (s === undefined || s === 'all') return undefined;
  const n = /^-?\d+$/.test(s.trim()) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `--tail ${s}: not a number of lines`, {
      hint: 'Give a whole number of lines, or `all` (or -1) for everything.',
      details: { field: 'tail' },
    });
  }
  return n < 0 ? undefined : n;
}

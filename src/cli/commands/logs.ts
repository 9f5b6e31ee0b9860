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
    .option('-n, --tail <n>', 'only the last N lines ("all" for everything)')
    .option('-t, --timestamps', 'show timestamps')
    .action(
      async (ref: string, o: { follow?: boolean; since?: string; tail?: string; timestamps?: boolean }) => {
        let tail: number | undefined;
        if (o.tail !== undefined && o.tail !== 'all') {
          tail = Number(o.tail);
          if (!Number.isInteger(tail) || tail < 0)
            throw new BrigError('ERR_INVALID_ARGUMENT', `--tail ${o.tail}`);
        }
        await printLogs(ctx.client(), ref, {
          follow: o.follow === true,
          timestamps: o.timestamps === true,
          ...(o.since ? { since: o.since } : {}),
          ...(tail !== undefined ? { tail } : {}),
        });
      },
    );
}

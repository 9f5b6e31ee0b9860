/** brig stop [-t SECONDS] [-s SIGNAL] CONTAINER...: the stop signal, then SIGKILL after the timeout. */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('stop')
    .description('Stop one or more running containers')
    .argument('<container...>')
    .option(
      '-t, --time <seconds>',
      'seconds to wait before killing (default: the container’s --stop-timeout, else 10)',
    )
    .option('-s, --signal <signal>', 'signal to send first (default: the container’s stop signal)')
    .action(async (refs: string[], o: { time?: string; signal?: string }) => {
      for (const ref of refs) {
        await containers.stop(ctx.client(), ref, {
          ...(o.time !== undefined ? { timeout: Number(o.time) } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        });
        process.stdout.write(`${ref}\n`);
      }
    });
}

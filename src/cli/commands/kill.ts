/** brig kill [-s SIGNAL] CONTAINER...: sends a signal (default SIGKILL). */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('kill')
    .description('Send a signal to one or more running containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal to send', 'SIGKILL')
    .action(async (refs: string[], o: { signal: string }) => {
      for (const ref of refs) {
        await containers.kill(ctx.client(), ref, o.signal);
        process.stdout.write(`${ref}\n`);
      }
    });
}

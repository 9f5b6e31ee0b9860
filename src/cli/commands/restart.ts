/** brig restart [-t SECONDS] CONTAINER...: stop (if running), then start. */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('restart')
    .description('Restart one or more containers')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing')
    .action(async (refs: string[], o: { time?: string }) => {
      for (const ref of refs) {
        await containers.restart(ctx.client(), ref, o.time !== undefined ? Number(o.time) : undefined);
        process.stdout.write(`${ref}\n`);
      }
    });
}

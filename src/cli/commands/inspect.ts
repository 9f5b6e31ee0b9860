/** brig inspect CONTAINER...: a JSON array of the containers' records. */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';
import { printJson } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('Show containers in detail (JSON)')
    .argument('<container...>')
    .action(async (refs: string[]) => {
      const out = [];
      for (const ref of refs) out.push(await containers.inspect(ctx.client(), ref));
      printJson(out);
    });
}

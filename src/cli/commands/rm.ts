/** brig rm [-f] [-v] CONTAINER...: removes containers (-f kills a running one first). */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('rm')
    .description('Remove one or more containers')
    .argument('<container...>')
    .option('-f, --force', 'kill and remove a running container')
    .option('-v, --volumes', 'also remove the anonymous volumes it used')
    .action(async (refs: string[], o: { force?: boolean; volumes?: boolean }) => {
      for (const ref of refs) {
        await containers.remove(ctx.client(), ref, { force: o.force === true, volumes: o.volumes === true });
        process.stdout.write(`${ref}\n`);
      }
    });
}

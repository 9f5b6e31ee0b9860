/** brig wait CONTAINER...: blocks until each stops; prints its exit code. */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('wait')
    .description('Wait for containers to stop and print their exit codes')
    .argument('<container...>')
    .action(async (refs: string[]) => {
      for (const ref of refs) {
        const r = await containers.wait(ctx.client(), ref);
        process.stdout.write(`${r.exitCode}\n`);
      }
    });
}

/**
 * brig start [-a] [-i] CONTAINER...: starts created or exited containers. With -a, brig exits
 * with the container's status, and as `run` does with 127/126 when its command cannot be found
 * or run (./run.ts withCommandStatus); without -a such a failure is brig's 125.
 */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';
import { interactive } from './container-io.ts';
import { withCommandStatus } from './run.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('Start one or more containers')
    .argument('<container...>')
    .option('-a, --attach', 'attach to the container’s output and exit with its status')
    .option('-i, --interactive', 'attach stdin')
    .action(async (refs: string[], o: { attach?: boolean; interactive?: boolean }) => {
      const client = ctx.client();
      if (o.attach && refs.length === 1) {
        const c = await containers.inspect(client, refs[0]!);
        const tty = (c.spec as { tty?: boolean } | undefined)?.tty === true;
        await withCommandStatus(ctx, async () => {
          await interactive(client, c.id, { tty, stdin: o.interactive === true, start: true });
          ctx.exitCode = (await containers.wait(client, c.id)).exitCode;
        });
        return;
      }
      for (const ref of refs) {
        await containers.start(client, ref);
        process.stdout.write(`${ref}\n`);
      }
    });
}

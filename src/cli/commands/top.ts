/** brig top CONTAINER: the container's processes. */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';
import { printJson, printTable } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('top')
    .description('Show the processes of a running container')
    .argument('<container>')
    .option('--json', 'JSON output')
    .action(async (ref: string, o: { json?: boolean }) => {
      const rows = await containers.top(ctx.client(), ref);
      if (o.json) return printJson(rows);
      printTable(rows, [
        { header: 'PID', get: (r) => r.pid },
        { header: 'PPID', get: (r) => r.ppid },
        { header: 'USER', get: (r) => r.user },
        { header: 'TIME', get: (r) => `${r.time.toFixed(2)}s` },
        { header: 'CMD', get: (r) => r.cmd },
      ]);
    });
}

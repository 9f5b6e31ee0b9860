/** brig stats [--json] CONTAINER...: cpu, memory, pids and io from the container's cgroup (one sample). */
import type { Command } from 'commander';
import { containers } from '../../client/containers.ts';
import type { CliContext } from '../context.ts';
import { formatSize, printJson, printTable } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('stats')
    .description('Show resource usage of running containers (all running ones when none is named)')
    .argument('[container...]')
    .option('--json', 'JSON output')
    .action(async (refs: string[], o: { json?: boolean }) => {
      const client = ctx.client();
      const names = refs.length ? refs : (await containers.list(client)).map((c) => c.name);
      // CPU% from two samples 500 ms apart
      const first = await Promise.all(names.map((n) => containers.stats(client, n)));
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 500));
      const second = await Promise.all(names.map((n) => containers.stats(client, n)));
      const dt = (Date.now() - t0) * 1e6;
      const rows = names.map((name, i) => ({
        name,
        cpuPercent: Math.max(0, ((second[i]!.cpuNanos - first[i]!.cpuNanos) / dt) * 100),
        ...second[i]!,
      }));
      if (o.json) return printJson(rows);
      printTable(rows, [
        { header: 'NAME', get: (r) => r.name },
        { header: 'CPU %', get: (r) => `${r.cpuPercent.toFixed(2)}%` },
        {
          header: 'MEM USAGE / LIMIT',
          get: (r) =>
            `${formatSize(r.memoryBytes)} / ${r.memoryLimitBytes ? formatSize(r.memoryLimitBytes) : '-'}`,
        },
        { header: 'PIDS', get: (r) => r.pids },
        { header: 'BLOCK I/O', get: (r) => `${formatSize(r.ioReadBytes)} / ${formatSize(r.ioWriteBytes)}` },
      ]);
    });
}

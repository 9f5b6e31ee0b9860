import type { Command } from 'commander';
import { systemInfo } from '../../client/system.ts';
import type { CliContext } from '../context.ts';
import { printJson } from '../output.ts';

function flatten(prefix: string, v: unknown, out: Array<[string, string]>): void {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, out);
  } else {
    out.push([prefix, Array.isArray(v) ? v.join(', ') : String(v ?? '')]);
  }
}

async function showInfo(ctx: CliContext, o: { json?: boolean }): Promise<void> {
  const info = await systemInfo(ctx.client());
  if (o.json) return printJson(info);
  const rows: Array<[string, string]> = [];
  flatten('', info, rows);
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${`${k}:`.padEnd(w + 2)}${v}\n`);
}

export function register(program: Command, ctx: CliContext): void {
  const system = program.command('system').description('Daemon-wide information');
  system
    .command('info')
    .description('Versions, root, storage driver, runtime and platform')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => showInfo(ctx, o));
  program
    .command('info')
    .description('Same as `brig system info`')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => showInfo(ctx, o));
}

import type { Command } from 'commander';
import { events } from '../../client/system.ts';
import { BrigError } from '../../errors/errors.ts';
import { type CliContext, collect } from '../context.ts';

/** --since/--until: Unix seconds, RFC 3339, or a duration before now (30s, 10m, 2h). */
export function toSeconds(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined) return undefined;
  const rel = /^(\d+)(s|m|h)$/.exec(v);
  if (rel) return now / 1000 - Number(rel[1]) * { s: 1, m: 60, h: 3600 }[rel[2] as 's' | 'm' | 'h'];
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `cannot read the time ${JSON.stringify(v)}`, {
      hint: 'Give Unix seconds, an RFC 3339 time (2026-01-31T12:00:00Z) or a duration (30s, 10m, 2h).',
    });
  }
  return t / 1000;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('events')
    .description('Stream daemon events (past ones first); stops at --until, or never without it')
    .option('--since <time>', 'events since TIME (Unix seconds, RFC 3339, or a duration like 10m)')
    .option('--until <time>', 'events until TIME; without it, keep streaming')
    .option('-f, --filter <key=value>', 'type=, action=, container=, image=, volume=', collect, [])
    .option('--no-follow', 'print past events and exit')
    .option('--json', 'one JSON object per line')
    .action(
      async (o: { since?: string; until?: string; filter: string[]; follow: boolean; json?: boolean }) => {
        const until = toSeconds(o.until);
        const stream = events(ctx.client(), {
          since: toSeconds(o.since),
          until,
          follow: o.follow && (until === undefined || until * 1000 > Date.now()),
          filter: o.filter,
        });
        for await (const e of stream) {
          if (o.json) {
            process.stdout.write(`${JSON.stringify(e)}\n`);
            continue;
          }
          const attrs = Object.entries(e.attributes)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ');
          process.stdout.write(
            `${new Date(e.time).toISOString()} ${e.type} ${e.action} ${e.actorId}${attrs ? ` (${attrs})` : ''}\n`,
          );
        }
      },
    );
}

/** brig ps [-a] [-q] [--filter K=V]... [--json]: state, exit code, reason, uptime, pid. */
import type { Command } from 'commander';
import { type ContainerView, containers } from '../../client/containers.ts';
import { type CliContext, collect } from '../context.ts';
import { formatAgo, formatDuration, printJson, printTable } from '../output.ts';

export function statusText(c: ContainerView, now = Date.now()): string {
  switch (c.state) {
    case 'running':
      return `Up ${formatDuration(now - (c.startedAt ?? now))}`;
    case 'exited':
      if (c.reason === 'failed-to-start') return `Failed to start (${c.exitCode ?? '?'})`;
      return `Exited (${c.exitCode ?? '?'}) ${formatAgo(c.finishedAt, now)}`;
    case 'restarting':
      // docker's: the last exit's code and when it happened, while the back-off runs
      return `Restarting (${c.exitCode ?? '?'}) ${formatAgo(c.finishedAt, now)}`;
    case 'created':
      return 'Created';
    default:
      return 'Dead';
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('ps')
    .description('List containers')
    .option('-a, --all', 'show all containers (default: running ones)')
    .option('-q, --quiet', 'only ids')
    .option(
      '-f, --filter <key=value>',
      'status=, name=, id=, label=K[=V], ancestor=, reason= (repeatable)',
      collect,
      [],
    )
    .option('--json', 'JSON output')
    .action(async (o: { all?: boolean; quiet?: boolean; filter: string[]; json?: boolean }) => {
      const list = await containers.list(ctx.client(), { all: o.all === true, filter: o.filter });
      if (o.json) return printJson(list);
      if (o.quiet) {
        for (const c of list) process.stdout.write(`${c.id.slice(0, 12)}\n`);
        return;
      }
      const now = Date.now();
      // FreeBSD: the jail id, when any container has one
      const jails = list.some((c) => c.jid !== undefined)
        ? [{ header: 'JID', get: (c: (typeof list)[number]) => c.jid }]
        : [];
      printTable(list, [
        { header: 'CONTAINER ID', get: (c) => c.id.slice(0, 12) },
        { header: 'IMAGE', get: (c) => c.image },
        { header: 'COMMAND', get: (c) => JSON.stringify(c.command.join(' ').slice(0, 30)) },
        { header: 'CREATED', get: (c) => formatAgo(c.createdAt, now) },
        { header: 'STATE', get: (c) => c.state },
        { header: 'STATUS', get: (c) => statusText(c, now) },
        { header: 'EXIT', get: (c) => c.exitCode },
        { header: 'REASON', get: (c) => c.reason },
        { header: 'PID', get: (c) => c.pid },
        ...jails,
        { header: 'RESTARTS', get: (c) => c.restartCount },
        { header: 'NAMES', get: (c) => c.name },
      ]);
    });
}

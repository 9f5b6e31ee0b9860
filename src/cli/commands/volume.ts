/**
 * brig volume create [--label K=V]... [--driver local] [NAME]
 * brig volume ls [--json] [-q] [--filter K=V]...
 * brig volume inspect NAME...
 * brig volume rm [-f] NAME...
 * brig volume prune [-a] [-f] [--filter label=K[=V]]...
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import {
  createVolume,
  inspectVolume,
  listVolumes,
  pruneVolumes,
  removeVolume,
  type Volume,
} from '../../client/volumes.ts';
import { BrigError } from '../../errors/errors.ts';
import { type CliContext, collect, eachName } from '../context.ts';
import { formatAgo, formatSize, printJson, printTable } from '../output.ts';

function labels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values) {
    const i = kv.indexOf('=');
    const k = i < 0 ? kv : kv.slice(0, i);
    if (k === '') throw new BrigError('ERR_INVALID_ARGUMENT', `--label ${kv}: expected KEY=VALUE`);
    out[k] = i < 0 ? '' : kv.slice(i + 1);
  }
  return out;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const a = await rl.question(question);
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}

export function register(program: Command, ctx: CliContext): void {
  const volume = program.command('volume').description('Manage volumes');

  volume
    .command('create')
    .description('Create a volume (a generated name when NAME is omitted)')
    .argument('[name]')
    .option('-d, --driver <driver>', 'volume driver', 'local')
    .option('-l, --label <key=value>', 'set a label (repeatable)', collect, [])
    .action(async (name: string | undefined, o: { driver: string; label: string[] }) => {
      const v = await createVolume(ctx.client(), {
        ...(name ? { name } : {}),
        driver: o.driver,
        labels: labels(o.label),
      });
      process.stdout.write(`${v.name}\n`);
    });

  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print names only')
    .option('-f, --filter <key=value>', 'dangling=true|false, label=K[=V], name=S (repeatable)', collect, [])
    .action(async (o: { json?: boolean; quiet?: boolean; filter: string[] }) => {
      const vs = await listVolumes(ctx.client(), o.filter);
      if (o.json) return printJson(vs);
      if (o.quiet) {
        for (const v of vs) process.stdout.write(`${v.name}\n`);
        return;
      }
      printTable<Volume>(vs, [
        { header: 'DRIVER', get: (v) => v.driver },
        { header: 'VOLUME NAME', get: (v) => v.name },
        { header: 'CREATED', get: (v) => formatAgo(v.createdAt) },
        { header: 'IN USE', get: (v) => (v.usedBy.length ? String(v.usedBy.length) : '') },
      ]);
    });

  volume
    .command('inspect')
    .description('Show volumes as JSON')
    .argument('<names...>')
    .action(async (names: string[]) => {
      const out: Volume[] = [];
      await eachName(ctx, names, async (n) => {
        out.push(await inspectVolume(ctx.client(), n));
      });
      printJson(out);
    });

  volume
    .command('rm')
    .alias('remove')
    .description('Remove volumes')
    .argument('<names...>')
    .option('-f, --force', 'no error for volumes that do not exist')
    .action(async (names: string[], o: { force?: boolean }) => {
      await eachName(ctx, names, async (n) => {
        await removeVolume(ctx.client(), n, { force: o.force === true });
        process.stdout.write(`${n}\n`);
      });
    });

  volume
    .command('prune')
    .description('Remove unused anonymous volumes (with -a: every unused volume)')
    .option('-a, --all', 'also named volumes')
    .option('-f, --force', 'do not ask for confirmation')
    .option('--filter <label=K[=V]>', 'only volumes with these labels (repeatable)', collect, [])
    .action(async (o: { all?: boolean; force?: boolean; filter: string[] }) => {
      if (!o.force) {
        const what = o.all
          ? 'all volumes not used by at least one container'
          : 'all anonymous volumes not used by at least one container';
        if (!(await confirm(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `)))
          return;
      }
      const r = await pruneVolumes(ctx.client(), { all: o.all === true, filter: o.filter });
      if (r.removed.length > 0)
        process.stdout.write(`Deleted Volumes:\n${r.removed.map((n) => `${n}\n`).join('')}\n`);
      process.stdout.write(`Total reclaimed space: ${formatSize(r.spaceReclaimed)}\n`);
    });
}

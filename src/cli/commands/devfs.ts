/**
 * brig devfs ls [--json]    devfs rulesets in use: number, composed rules, containers using it.
 */
import type { Command } from 'commander';
import { listDevfsRulesets } from '../../client/privileges.ts';
import type { CliContext } from '../context.ts';
import { printJson, printTable, shortId } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  const devfs = program.command('devfs').description('devfs rulesets of containers');
  devfs
    .command('ls')
    .alias('list')
    .description('List the devfs rulesets in use')
    .option('--json', 'print JSON')
    .option('--rules', 'print every rule of each ruleset')
    .action(async (o: { json?: boolean; rules?: boolean }) => {
      const sets = await listDevfsRulesets(ctx.client());
      if (o.json) return printJson(sets);
      if (o.rules) {
        for (const s of sets) {
          process.stdout.write(
            `ruleset ${s.number} (${s.containers.length} containers: ${s.containers.map(shortId).join(' ')})\n`,
          );
          for (const r of s.rules) process.stdout.write(`  ${r}\n`);
        }
        return;
      }
      printTable(sets, [
        { header: 'RULESET', get: (s) => s.number },
        { header: 'HASH', get: (s) => s.hash.slice(0, 12) },
        { header: 'RULES', get: (s) => s.rules.length },
        { header: 'CONTAINERS', get: (s) => s.containers.length },
        {
          header: 'USED BY',
          get: (s) =>
            s.containers.slice(0, 3).map(shortId).join(' ') + (s.containers.length > 3 ? ' ...' : ''),
        },
      ]);
    });
}

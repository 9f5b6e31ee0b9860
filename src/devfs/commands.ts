/**
 * FreeBSD host commands for devfs rulesets, as argument arrays for platform/exec (never a shell
 * string, so patterns like bpf* reach devfs(8) unquoted and unexpanded).
 *
 *   load:    devfs rule -s N delset            (empties N; a no-op when N does not exist)
 *            devfs rule -s N add R path P ...  (one per rule, numbered 100, 200, ... in order)
 *   delete:  devfs rule -s N delset            (the kernel destroys a ruleset with no rule left
 *                                               and no reference, devfs(8) IMPLEMENTATION NOTES)
 *   apply:   devfs -m MOUNTPOINT rule -s N applyset
 *   list:    devfs rule showsets               (parseShowsets reads its output)
 * A jail uses the ruleset through its `devfs_ruleset=N` parameter with `mount.devfs`, or a devfs
 * mount with `-o ruleset=N`.
 */
import { BrigError } from '../errors/errors.ts';
import type { ComposedRuleset } from './compose.ts';
import { ruleWords } from './rules.ts';

export interface HostCommand {
  readonly cmd: 'devfs';
  readonly args: readonly string[];
}

/** Rule numbers step like the kernel's own automatic numbering. */
export const RULE_NUMBER_STEP = 100;

function checkSet(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new BrigError('ERR_INVALID_ARGUMENT', `devfs ruleset number ${n} is not within 1..65535`);
}

export function loadRulesetCommands(number: number, ruleset: ComposedRuleset): HostCommand[] {
  checkSet(number);
  if (ruleset.rules.length * RULE_NUMBER_STEP > 65535)
    throw new BrigError(
      'ERR_DEVFS_RULE_INVALID',
      `a devfs ruleset of ${ruleset.rules.length} rules is too long`,
      {
        hint: `devfs rule numbers stop at 65535: keep rulesets under ${Math.floor(65535 / RULE_NUMBER_STEP)} rules.`,
      },
    );
  const s = String(number);
  return [
    { cmd: 'devfs', args: ['rule', '-s', s, 'delset'] },
    ...ruleset.rules.map((r, i) => ({
      cmd: 'devfs' as const,
      args: ['rule', '-s', s, 'add', String((i + 1) * RULE_NUMBER_STEP), ...ruleWords(r)],
    })),
  ];
}

export function deleteRulesetCommands(number: number): HostCommand[] {
  checkSet(number);
  return [{ cmd: 'devfs', args: ['rule', '-s', String(number), 'delset'] }];
}

export function applyRulesetCommand(mountPoint: string, number: number): HostCommand {
  checkSet(number);
  return { cmd: 'devfs', args: ['-m', mountPoint, 'rule', '-s', String(number), 'applyset'] };
}

export const SHOWSETS_COMMAND: HostCommand = { cmd: 'devfs', args: ['rule', 'showsets'] };

/** The ruleset numbers printed by `devfs rule showsets`, one per line. */
export function parseShowsets(stdout: string): number[] {
  const out: number[] = [];
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (!/^\d+$/.test(t) || Number(t) > 65535)
      throw new BrigError(
        'ERR_COMMAND_FAILED',
        `devfs rule showsets printed an unexpected line: ${JSON.stringify(t)}`,
      );
    out.push(Number(t));
  }
  return out.sort((a, b) => a - b);
}

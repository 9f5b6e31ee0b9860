/**
 * Composition of a container's devfs ruleset:
 *
 *   jail rules = host open rules || image rules the policy grants || host close rules
 *
 * Rules run in that order and a later rule overrides an earlier one for the nodes it matches, so
 * the close rules always have the last word. The result is self-contained:
 *   - `include` of FreeBSD's default rulesets ($devfsrules_hide_all ..., or their numbers 1-5) is
 *     expanded into their rules (./defaults.ts). Running an included ruleset on a node is the same
 *     as running its rules in its place, so the meaning is unchanged, and the ruleset no longer
 *     depends on what the host loaded under those numbers (an administrator may have redefined
 *     them in /etc/devfs.rules): what is hashed is exactly what the kernel runs, and the Linux
 *     evaluation sees the same rules. An `include` must stand alone (no condition, no other
 *     action), and including any other ruleset number is refused: it would depend on host state.
 *   - Rule numbers are not allowed in composed rules: brig numbers them by position when it loads
 *     them (./commands.ts); the order of the lists is the order of the rules.
 * The canonical form is one canonical rule per line (./rules.ts formatRule), and the hash is
 * the sha256 of it: identical compositions share one ruleset number (./allocator.ts).
 */
import { createHash } from 'node:crypto';
import { BrigError } from '../errors/errors.ts';
import { BUILTIN_BY_NUMBER } from './defaults.ts';
import { type DevfsRule, formatRule, parseRule } from './rules.ts';

export interface ComposedRuleset {
  /** Expanded rules, in the order they run; no `include`, no rule numbers. */
  readonly rules: readonly DevfsRule[];
  /** The canonical form: one canonical rule per line, joined with "\n". */
  readonly canonical: string;
  /** sha256 (lowercase hex) of the canonical form. */
  readonly hash: string;
}

export type RuleInput = string | DevfsRule;

const MAX_DEPTH = 8;

function expandOne(r: DevfsRule, text: string, out: DevfsRule[], depth: number): void {
  if (r.number !== undefined)
    throw new BrigError('ERR_DEVFS_RULE_INVALID', `devfs rule "${text}": rule numbers are assigned by brig`, {
      details: { rule: text },
      hint: 'Drop the number; rules run in the order they are listed.',
    });
  if (r.include === undefined) {
    out.push(r);
    return;
  }
  const alone =
    r.type === undefined &&
    r.path === undefined &&
    r.visibility === undefined &&
    r.user === undefined &&
    r.group === undefined &&
    r.mode === undefined;
  if (!alone)
    throw new BrigError('ERR_DEVFS_RULE_INVALID', `devfs rule "${text}": include must stand alone`, {
      details: { rule: text },
      hint: 'Write the include on its own rule, without path, type or other actions.',
    });
  const b = BUILTIN_BY_NUMBER.get(r.include);
  if (!b)
    throw new BrigError(
      'ERR_DEVFS_RULE_INVALID',
      `devfs rule "${text}": ruleset ${r.include} is not one brig knows`,
      {
        details: { rule: text },
        hint: 'Only FreeBSD’s default rulesets can be included ($devfsrules_hide_all, ..._unhide_basic, ..._unhide_login, ..._jail, ..._jail_vnet); write other rules out.',
      },
    );
  if (depth >= MAX_DEPTH)
    throw new BrigError('ERR_DEVFS_RULE_INVALID', `devfs rule "${text}": includes nest too deep`);
  for (const line of b.lines) expandOne(parseRule(line), line, out, depth + 1);
}

/** Parse (when given text) and expand includes; refuses rule numbers. */
export function expandRules(rules: readonly RuleInput[]): DevfsRule[] {
  const out: DevfsRule[] = [];
  for (const x of rules) {
    const r = typeof x === 'string' ? parseRule(x) : x;
    expandOne(r, typeof x === 'string' ? x : formatRule(x), out, 0);
  }
  return out;
}

/** A ruleset from rules already in order (expanded, canonicalised, hashed). */
export function rulesetOf(rules: readonly RuleInput[]): ComposedRuleset {
  const expanded = expandRules(rules);
  const canonical = expanded.map(formatRule).join('\n');
  const hash = createHash('sha256').update(`brig-devfs-ruleset-v1\n${canonical}`).digest('hex');
  return { rules: expanded, canonical, hash };
}

/** open || granted image rules || close (see the header). */
export function compose(
  open: readonly RuleInput[],
  imageRulesGranted: readonly RuleInput[],
  close: readonly RuleInput[],
): ComposedRuleset {
  return rulesetOf([...open, ...imageRulesGranted, ...close]);
}

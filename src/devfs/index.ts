/**
 * devfs: the device nodes a container sees, as FreeBSD devfs rules (pure logic, no I/O).
 *
 *   parseRule(text)                 rule text (devfs(8), devfs.rules(5)) -> DevfsRule, or
 *                                   ERR_DEVFS_RULE_INVALID naming the rule      (./rules.ts)
 *   canonicalRule(text)             the canonical spelling of a rule             (./rules.ts)
 *   compose(open, granted, close)   -> ComposedRuleset {rules, canonical, hash}; close rules win
 *                                                                                (./compose.ts)
 *   evaluate(ruleset, inventory)    Linux: host /dev inventory -> visible devices with final
 *                                   owner and mode                               (./evaluate.ts)
 *   RulesetAllocator(store, range)  ruleset numbers shared by hash, reference-counted by
 *                                   container, persisted through RulesetStore    (./allocator.ts)
 *   loadRulesetCommands(n, set) ... the exact devfs(8) argument arrays           (./commands.ts)
 *   BUILTIN_RULESETS                FreeBSD's /etc/defaults/devfs.rules           (./defaults.ts)
 *
 * Call order in the daemon: policy decides which image rules are granted; compose() them with
 * the host's open and close rules; allocator.acquire(containerId, composed) -> number (load the
 * rules with loadRulesetCommands when `created`); on FreeBSD mount devfs with that ruleset, on
 * Linux evaluate() against the host inventory; allocator.release(containerId) when the
 * container is removed (deleteRulesetCommands when `freed`); reconcile() at start-up.
 */
export {
  type Acquired,
  MemoryRulesetStore,
  type Reconciliation,
  type Released,
  RulesetAllocator,
  type RulesetEntry,
  type RulesetRange,
  type RulesetStore,
} from './allocator.ts';
export {
  applyRulesetCommand,
  deleteRulesetCommands,
  type HostCommand,
  loadRulesetCommands,
  parseShowsets,
  RULE_NUMBER_STEP,
  SHOWSETS_COMMAND,
} from './commands.ts';
export { type ComposedRuleset, compose, expandRules, type RuleInput, rulesetOf } from './compose.ts';
export { BUILTIN_BY_NAME, BUILTIN_BY_NUMBER, BUILTIN_RULESETS, type BuiltinRuleset } from './defaults.ts';
export { type DeviceNode, type EvaluateOptions, evaluate, linuxDeviceType, pathMatches } from './evaluate.ts';
export {
  canonicalRule,
  DEVICE_TYPES,
  type DevfsRule,
  type DeviceType,
  formatRule,
  MAX_PATTERN_BYTES,
  type Owner,
  onlyHides,
  parseRule,
  parseRules,
  quoteWord,
  ruleWords,
} from './rules.ts';

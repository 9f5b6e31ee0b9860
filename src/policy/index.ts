/**
 * policy: an image may ask, it never takes. The host policy decides (pure logic, no I/O).
 *
 *   parsePrivileges(json)       the `privileges` of an image's `brig` section -> RequestedPrivileges
 *                               (ERR_BRIG_SECTION_INVALID / ERR_PRIVILEGE_INVALID / ERR_DEVFS_RULE_INVALID,
 *                               naming the field)                                    (./privileges.ts)
 *   privilegeItems(req), spell  the flat items, spelled as --grant spells them       (./privileges.ts)
 *   parseGrant(value)           a --grant value -> item (ERR_PRIVILEGE_INVALID)      (./privileges.ts)
 *   policySchema, defaultPolicy,
 *   parsePolicy(yaml)           the `policy` configuration key with its defaults     (./policy.ts)
 *   evaluate(req, policy, {imageRef, grants})
 *                               -> { granted: Grant, refusals, unusedGrants }         (./policy.ts)
 *   checkBindMount, checkPort   run options, same Refusal shape                       (./policy.ts)
 *   refusalError(refusals)      ERR_PRIVILEGE_REFUSED listing each refusal and its fix (./policy.ts)
 *   linuxEffects(grant), freebsdJailParams(grant)
 *                               what the Grant becomes on each platform               (./effects.ts)
 *
 * Call order in the daemon (run/create): parsePrivileges (at image import), evaluate with the
 * caller's --grant values (only for an administrator: ERR_GRANT_NOT_ALLOWED otherwise), refuse
 * with refusalError before creating anything when refusals is not empty, record one event per
 * `granted.overrides` item, then hand `granted` (never the request) to the runtime: devfs
 * compose(policy.devfs.open, granted.devfs, policy.devfs.close), and linuxEffects or
 * freebsdJailParams.
 */
export {
  assertLinuxSupported,
  freebsdJailParams,
  LINUX_ALLOW,
  type LinuxEffects,
  linuxEffects,
  SYSVIPC_SYSCALLS,
} from './effects.ts';
export {
  checkBindMount,
  checkPort,
  type Decision,
  defaultPolicy,
  type EvaluateContext,
  type Evaluation,
  evaluate,
  type Grant,
  type ImagePolicy,
  imageMatches,
  matchingImages,
  type Policy,
  parsePolicy,
  policySchema,
  type Refusal,
  refusalError,
  unrequestedGrants,
} from './policy.ts';
export {
  ALLOW_NAMES,
  type AllowName,
  allowName,
  BASELINE_ALLOW,
  NO_PRIVILEGES,
  type PrivilegeItem,
  parseGrant,
  parsePrivileges,
  privilegeItems,
  type RequestedPrivileges,
  SECURELEVEL_MAX,
  SECURELEVEL_MIN,
  SYSVIPC_CLASSES,
  SYSVIPC_MODES,
  type SysvipcClass,
  type SysvipcMode,
  spell,
} from './privileges.ts';

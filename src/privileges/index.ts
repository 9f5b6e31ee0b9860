/**
 * privileges: the daemon-side service of the security model (an image may ask, it never takes).
 *
 *   PrivilegeService           check before create, devfs ruleset per container, overrides as
 *                              events, the Platform's PrivilegeGrant, reconcile at start
 *                                                                          (./service.ts)
 *   decide, platformGrant      the pure core: policy decision -> PrivilegeGrant (./grant.ts)
 *   checkRunRequirements       required parameters and volumes given?   (./requirements.ts)
 *   explainImage               `brig image explain`                       (./explain.ts)
 *   ContainerPrivileges        the containers service's seam: beforeCreate, admit, grant, release
 *                                                                          (./containers.ts)
 */
export { ContainerPrivileges, type ImageLike, type SpecLike } from './containers.ts';
export { type Explanation, explainImage, SECRET_MASK } from './explain.ts';
export {
  assertSupported,
  type DecideContext,
  decide,
  type HostFacts,
  type PrivilegeDecision,
  platformGrant,
} from './grant.ts';
export {
  checkRunRequirements,
  type MissingRequirement,
  missingRequirements,
  type RunRequirementsInput,
} from './requirements.ts';
export {
  type DevfsRulesetInfo,
  type ImageFacts,
  PrivilegeService,
  type PrivilegeServiceOptions,
  type RunFacts,
} from './service.ts';

/**
 * From a policy decision to what the platform puts in the container (pure):
 *
 *   decide(privileges, policy, {imageRef, grants, binds, ports, os})
 *       -> Decision { evaluation, grant, refusals (privileges, bind mounts, ports), composed }
 *   platformGrant(decision.grant, decision.composed, host) -> the Platform's PrivilegeGrant
 *
 * Only `evaluation.granted` (never the request) feeds platformGrant, so a refused privilege
 * cannot reach the bundle; the property test in ./grant.test.ts checks it on random inputs.
 * Linux: capabilities and the SysV IPC namespace from linuxEffects, devices from the composed
 * ruleset evaluated against the host's /dev inventory. FreeBSD: the devfs ruleset number (the
 * rules are loaded by the PrivilegeService), allow.*, SysV IPC modes, vnet, children.max,
 * securelevel.
 */
import {
  type ComposedRuleset,
  compose,
  type DeviceNode,
  type EvaluateOptions,
  evaluate as evaluateDevfs,
} from '../devfs/index.ts';
import type { PrivilegeGrant } from '../platform/platform.ts';
import {
  assertLinuxSupported,
  checkBindMount,
  checkPort,
  type Evaluation,
  evaluate,
  type Grant,
  linuxEffects,
  type Policy,
  type Refusal,
  type RequestedPrivileges,
} from '../policy/index.ts';

export interface DecideContext {
  readonly imageRef?: string;
  /** --grant values. */
  readonly grants?: readonly string[];
  /** Host paths to bind-mount (-v /host:/ctr). */
  readonly binds?: readonly string[];
  /** Host ports to publish (-p). */
  readonly ports?: readonly number[];
}

export interface PrivilegeDecision {
  readonly evaluation: Evaluation;
  readonly grant: Grant;
  /** Every refusal: the image's privileges, then bind mounts, then ports. */
  readonly refusals: readonly Refusal[];
  /** Host open rules || granted image rules || host close rules. */
  readonly composed: ComposedRuleset;
  /** --grant values that covered a bind mount or a port (they are overrides too). */
  readonly runOverrides: readonly string[];
}

export function decide(req: RequestedPrivileges, policy: Policy, ctx: DecideContext = {}): PrivilegeDecision {
  const grants = ctx.grants ?? [];
  const evaluation = evaluate(req, policy, { ...(ctx.imageRef ? { imageRef: ctx.imageRef } : {}), grants });
  const refusals: Refusal[] = [...evaluation.refusals];
  const runOverrides: string[] = [];
  for (const path of ctx.binds ?? []) {
    const r = checkBindMount(path, policy, ctx.imageRef, grants);
    if (r) refusals.push(r);
    else if (checkBindMount(path, policy, ctx.imageRef, []) !== undefined) runOverrides.push(`bind:${path}`);
  }
  for (const port of ctx.ports ?? []) {
    const r = checkPort(port, policy, ctx.imageRef, grants);
    if (r) refusals.push(r);
    else if (checkPort(port, policy, ctx.imageRef, []) !== undefined) runOverrides.push(`port=${port}`);
  }
  const composed = compose(policy.devfs.open, evaluation.granted.devfs, policy.devfs.close);
  return { evaluation, grant: evaluation.granted, refusals, composed, runOverrides };
}

export interface HostFacts {
  readonly os: 'linux' | 'freebsd';
  /** Linux: the host's devices (src/platform/linux/dev-inventory.ts). */
  readonly inventory?: readonly DeviceNode[];
  /** Linux: user and group names devfs rules may use. */
  readonly ids?: EvaluateOptions;
  /** FreeBSD: the ruleset number allocated for the composed rules. */
  readonly rulesetNumber?: number;
}

/** ERR_UNSUPPORTED_PLATFORM when the grant holds something the host's platform cannot provide. */
export function assertSupported(grant: Grant, os: 'linux' | 'freebsd'): void {
  if (os === 'linux') assertLinuxSupported(linuxEffects(grant));
}

export function platformGrant(grant: Grant, composed: ComposedRuleset, host: HostFacts): PrivilegeGrant {
  const sysvipc = { msg: grant.sysvipc.msg, shm: grant.sysvipc.shm, sem: grant.sysvipc.sem };
  if (host.os === 'linux') {
    const fx = linuxEffects(grant);
    const devices = evaluateDevfs(composed, host.inventory ?? [], host.ids ?? {});
    return {
      capabilities: [...fx.capabilities],
      devices: devices.map((d) => ({
        path: `/dev/${d.path}`,
        type: d.type,
        major: d.major,
        minor: d.minor,
        fileMode: d.mode,
      })),
      sysvipc,
      vnet: grant.vnet,
    };
  }
  return {
    ...(host.rulesetNumber !== undefined ? { devfsRuleset: host.rulesetNumber } : {}),
    allow: [...grant.allow],
    sysvipc,
    vnet: grant.vnet,
    childrenMax: grant.childrenMax,
    securelevel: grant.securelevel,
  };
}

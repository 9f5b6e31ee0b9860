/**
 * fast-check arbitraries shared by the property tests of policy evaluation
 * (src/policy/policy.test.ts) and of grants (src/privileges/grant.test.ts): requested privileges
 * and `--grant` lists drawn from a test's own devfs rules and allow names.
 */
import fc from 'fast-check';
import {
  type AllowName,
  parsePrivileges,
  type RequestedPrivileges,
  SYSVIPC_CLASSES,
  type SysvipcMode,
} from '../../src/policy/index.ts';

export const MODES: SysvipcMode[] = ['new', 'inherit', 'disable'];

export const subset = <T>(xs: readonly T[]) => fc.subarray([...xs]);

/** Per SysV IPC class, a subset of the modes (a policy's `sysvipc`). */
export const sysvipcModesArb = () =>
  fc.record({ msg: subset(MODES), shm: subset(MODES), sem: subset(MODES) });

/** An image's requested privileges (any field may be absent), parsed as brig parses them. */
export function requestArbOf(
  rules: readonly string[],
  allows: readonly AllowName[],
): fc.Arbitrary<RequestedPrivileges> {
  return fc
    .record(
      {
        devfs: subset(rules),
        allow: subset(allows),
        sysvipc: fc.record(
          { msg: fc.constantFrom(...MODES), shm: fc.constantFrom(...MODES), sem: fc.constantFrom(...MODES) },
          { requiredKeys: [] },
        ),
        vnet: fc.boolean(),
        childrenMax: fc.integer({ min: 0, max: 5 }),
        securelevel: fc.integer({ min: -1, max: 3 }),
      },
      { requiredKeys: [] },
    )
    .map((raw) => parsePrivileges(JSON.parse(JSON.stringify(raw))));
}

/** `--grant` lists: devfs rules, allow names, every SysV IPC class and mode, then `more`. */
export function grantsArbOf(rules: readonly string[], allows: readonly AllowName[], more: string[]) {
  return fc.subarray([
    ...rules.map((r) => `devfs:${r}`),
    ...allows.map((a) => `allow.${a}`),
    ...SYSVIPC_CLASSES.flatMap((c) => MODES.map((m) => `sysvipc.${c}=${m}`)),
    ...more,
  ]);
}

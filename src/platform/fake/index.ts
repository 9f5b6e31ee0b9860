/**
 * The simulated FreeBSD host (design §4): a CommandRunner that answers jail, jls, jexec, devfs,
 * mount*, umount, ifconfig, pfctl, rctl, zfs, sysctl, conmon and ocijail as FreeBSD would,
 * keeping state, with fault injection. See freebsd-host.ts for the contract and NOTES.md for
 * what the FreeBSD platform must know about ocijail.
 */

export { CONMON_PATH, OCIJAIL_PATH, stateJson } from './conmon-ocijail.ts';
export { DEFAULT_DEVICES } from './devfs-tool.ts';
export {
  type CommandMatch,
  type FaultResult,
  freshState,
  type HostConfig,
  type LoggedCommand,
  type ProcessBehaviour,
  SimulatedFreeBSDHost,
  type SimulatedState,
  TOOL_PATHS,
} from './freebsd-host.ts';
export type { HostOptions, HostState } from './host-state.ts';
export { DEFAULT_DEVFS_RULES } from './host-state.ts';
export { ALLOW_PARAMS, JAIL_PARAMS } from './jail-tools.ts';
export { RCTL_RESOURCES } from './pf-rctl-sysctl.ts';
export type { ExecAnswer, ExecRequest } from './tool.ts';

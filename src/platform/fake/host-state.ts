/**
 * The state of a simulated FreeBSD host: everything the simulated tools can create, change or
 * remove. It is plain JSON (no Maps, no class instances) so that it can be deep-copied,
 * compared with `assert.deepEqual`, and saved to a file across daemon restarts.
 *
 * Vocabulary follows the manual pages: a jail has a `jid` and parameters (jail(8)); a devfs
 * ruleset is a number with numbered rules (devfs(8)); an interface lives in the host's vnet
 * (`vnet: 0`) or in a vnet jail's (`vnet: jid`); a pf anchor holds rules and tables (pfctl(8));
 * an rctl rule is `subject:id:resource:action=amount[/per]` (rctl(8)); a ZFS dataset is a
 * filesystem or a snapshot (`pool/fs@snap`), a clone has an `origin`.
 *
 * `counters` hold allocation cursors (the kernel's last jid, the next pid, ZFS txg and guid).
 * They are saved with the state but left out of `SimulatedFreeBSDHost.state()`: a jid that was
 * used and given back is not a resource the host still holds.
 */

export type JailParamValue = string | number | boolean;

export interface JailState {
  jid: number;
  name: string;
  /** Kernel parameters as jls(8) would export them (typed). */
  params: Record<string, JailParamValue>;
}

export interface DevfsRule {
  num: number;
  /** The rule as `devfs rule show` prints it, without its number. */
  spec: string;
  conditions: { type?: string; path?: string };
  actions: {
    hide?: boolean;
    unhide?: boolean;
    user?: string;
    group?: string;
    mode?: string;
    include?: number;
  };
}

export interface MountState {
  fstype: string;
  source: string;
  target: string;
  options: string[];
  /** devfs mounts: the ruleset currently associated with the mount. */
  ruleset?: number;
  /** Jail whose /dev this is when mounted by ocijail for a container (for information). */
  by?: string;
}

export interface InterfaceState {
  name: string;
  /** 0 = the host's vnet, otherwise the jid of the vnet jail holding it. */
  vnet: number;
  kind: 'loopback' | 'ethernet' | 'epair' | 'bridge';
  /** epair: the other half's name. */
  peer?: string;
  up: boolean;
  mtu: number;
  ether?: string;
  inet: { addr: string; prefix: number }[];
  inet6: { addr: string; prefix: number }[];
  /** bridge: member interface names. */
  members?: string[];
  description?: string;
}

export interface PfAnchor {
  /** Rule lines as loaded (comments and blank lines removed, continuations joined). */
  rules: string[];
  tables: Record<string, string[]>;
}

export interface DatasetState {
  name: string;
  type: 'filesystem' | 'snapshot';
  guid: string;
  createtxg: number;
  creation: number;
  /** Properties set locally (`zfs create -o`, `zfs set`). */
  props: Record<string, string>;
  /** Clones: the snapshot they were made from. */
  origin?: string;
  mounted: boolean;
}

export interface ProcessState {
  pid: number;
  jid: number;
  argv: string[];
  /** Only live processes are in the table; an ended one is removed (reaped). */
  state: 'created' | 'running';
  /** The OCI container this process is the init of (ocijail), with conmon's paths. */
  container?: string;
}

export interface ContainerState {
  id: string;
  /** ocijail --root (state directory); containers are keyed by root + id. */
  root: string;
  bundle: string;
  status: 'created' | 'running' | 'stopped';
  pid: number;
  jid: number;
  jailName: string;
  /** Mount targets ocijail made from config.json, unmounted by `ocijail delete`. */
  mounts: string[];
  /** Mount points ocijail created inside the root, removed by `ocijail delete`. */
  createdPaths: string[];
  annotations: Record<string, string>;
  conmon?: ConmonState;
  ignoreSignals?: string[];
}

export interface ConmonState {
  pid: number;
  cid: string;
  exitDir?: string;
  persistDir?: string;
  logPath?: string;
  logDriver: 'k8s-file' | 'journald' | 'passthrough' | 'none';
  containerPidfile?: string;
  conmonPidfile?: string;
  exitCommand?: string[];
}

export interface HostState {
  version: 1;
  counters: { lastJid: number; nextPid: number; txg: number; guid: number };
  jails: Record<string, JailState>;
  devfsRulesets: Record<string, DevfsRule[]>;
  mounts: MountState[];
  interfaces: InterfaceState[];
  pf: { enabled: boolean; anchors: Record<string, PfAnchor> };
  rctl: string[];
  /** Resource usage reported by `rctl -u` beyond the computed ones, per jail name. */
  usage: Record<string, Record<string, number>>;
  datasets: Record<string, DatasetState>;
  sysctl: Record<string, string>;
  processes: Record<string, ProcessState>;
  containers: Record<string, ContainerState>;
  /** Directories that exist on the simulated host although not on the real one. */
  paths: string[];
  /** NFS exports reachable from the host: `server:/path`. */
  nfsExports: string[];
}

export interface HostOptions {
  /** ZFS pools (their root datasets exist, mounted at /NAME). Default: none. */
  pools?: string[];
  /** sysctl values overriding the defaults (e.g. `{ 'kern.racct.enable': '1' }`). */
  sysctl?: Record<string, string>;
  /** Physical interfaces besides lo0. Default: ['vtnet0']. */
  physical?: string[];
  /** The host's own address on the first physical interface. */
  hostAddress?: { addr: string; prefix: number };
  /** Directories that exist on the simulated host (in addition to the real filesystem). */
  paths?: string[];
  /** `server:/export` pairs mount_nfs can reach. */
  nfsExports?: string[];
}

/** /etc/defaults/devfs.rules of FreeBSD 14, loaded at boot by the devfs service. */
export const DEFAULT_DEVFS_RULES = `[devfsrules_hide_all=1]
add hide

[devfsrules_unhide_basic=2]
add path null unhide
add path zero unhide
add path crypto unhide
add path random unhide
add path urandom unhide

[devfsrules_unhide_login=3]
add path 'ptyp*' unhide
add path 'ptyq*' unhide
add path 'ptyr*' unhide
add path 'ptys*' unhide
add path 'ptyP*' unhide
add path 'ptyQ*' unhide
add path 'ptyR*' unhide
add path 'ptyS*' unhide
add path 'ptyl*' unhide
add path 'ptym*' unhide
add path 'ptyn*' unhide
add path 'ptyo*' unhide
add path 'ptyL*' unhide
add path 'ptyM*' unhide
add path 'ptyN*' unhide
add path 'ptyO*' unhide
add path 'ttyp*' unhide
add path 'ttyq*' unhide
add path 'ttyr*' unhide
add path 'ttys*' unhide
add path 'ttyP*' unhide
add path 'ttyQ*' unhide
add path 'ttyR*' unhide
add path 'ttyS*' unhide
add path 'ttyl*' unhide
add path 'ttym*' unhide
add path 'ttyn*' unhide
add path 'ttyo*' unhide
add path 'ttyL*' unhide
add path 'ttyM*' unhide
add path 'ttyN*' unhide
add path 'ttyO*' unhide
add path ptmx unhide
add path pts unhide
add path 'pts/*' unhide
add path fd unhide
add path 'fd/*' unhide
add path stdin unhide
add path stdout unhide
add path stderr unhide

[devfsrules_jail=4]
add include $devfsrules_hide_all
add include $devfsrules_unhide_basic
add include $devfsrules_unhide_login
add path fuse unhide
add path zfs unhide

[devfsrules_jail_vnet=5]
add include $devfsrules_hide_all
add include $devfsrules_unhide_basic
add include $devfsrules_unhide_login
add include $devfsrules_jail
add path pf unhide
`;

export const DEFAULT_SYSCTLS: Record<string, string> = {
  'kern.ostype': 'FreeBSD',
  'kern.osrelease': '14.1-RELEASE',
  'kern.osreldate': '1401000',
  'kern.hostname': 'freebsd-sim',
  'kern.securelevel': '-1',
  'kern.racct.enable': '0',
  'kern.features.vimage': '1',
  'kern.features.racct': '1',
  'kern.features.rctl': '1',
  'hw.machine': 'amd64',
  'hw.machine_arch': 'amd64',
  'hw.ncpu': '2',
  'hw.physmem': '4294967296',
  'security.jail.jailed': '0',
  'security.jail.enforce_statfs': '2',
  'net.inet.ip.forwarding': '0',
  'net.inet6.ip6.forwarding': '0',
  'net.link.bridge.pfil_member': '1',
  'net.link.bridge.pfil_bridge': '0',
};

/** Sysctls that are boot-time tunables: read-only at run time. */
export const TUNABLES = new Set([
  'kern.racct.enable',
  'hw.ncpu',
  'hw.physmem',
  'hw.machine',
  'hw.machine_arch',
]);
/** Sysctls that cannot be written at all. */
export const READ_ONLY_SYSCTLS = new Set([
  'kern.ostype',
  'kern.osrelease',
  'kern.osreldate',
  'kern.features.vimage',
  'kern.features.racct',
  'kern.features.rctl',
  'security.jail.jailed',
]);

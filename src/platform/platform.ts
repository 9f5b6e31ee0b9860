/**
 * Platform: everything brig does that depends on the host operating system. Nothing outside
 * src/platform/ tests `process.platform`; the daemon picks one Platform at start
 * (`linux`, `freebsd`, or `freebsd-simulated` from ./fake) and hands it to every service.
 *
 * Vocabulary:
 *   - The **OCI runtime** (runc or crun on Linux; ocijail or runj on FreeBSD) creates, starts,
 *     signals and deletes a container from a **bundle** (a directory with `config.json` and the
 *     root filesystem). brig always runs it under **conmon** (one per container, detached from
 *     brigd) which keeps the container's stdio, writes the logs and the exit status.
 *   - The **runtime state root** is the directory the runtime keeps its state in (`runc --root`);
 *     brig gives every daemon its own, so `runc --root R list` lists exactly that daemon's
 *     containers and reconciliation can trust it.
 *   - A **resource scope** is what confines a container's resource use: a cgroup (Linux, at an
 *     ABSOLUTE path under brigd's own cgroup; written into `linux.cgroupsPath` and created by the
 *     runtime) or an rctl subject (FreeBSD, `jail:<name>`, created by the platform itself).
 *
 * Call order for one container start (the containers service drives it, keeping an undo list):
 *   1. `runtime()` (probed once, cached) gives the runtime binary and its state root.
 *   2. `clampRlimits()` turns the wanted rlimits into ones the runtime can really set.
 *   3. `bundleSection(input)` returns the OS-specific part of config.json (`linux` or `freebsd`
 *      section, namespaces or jail annotations, resources, devices, masked paths, default
 *      mounts). The generic part (process, root, hostname, mounts of volumes) is written by
 *      src/runtime/bundle.ts, which knows no OS.
 *   4. `prepareResources(id, limits)`: what the runtime does NOT create (rctl rules, devfs
 *      rulesets on FreeBSD; nothing on Linux: runc creates the cgroup). Undo: `releaseResources`.
 *   5. the runtime runs under conmon (src/runtime/conmon.ts).
 *   6. on exit: `exitDetails(id, scope)` (OOM kill?) BEFORE `releaseResources(id, scope)`.
 *   `stats(scope)`, `processes(pid)` serve `brig stats` and `brig top` while it runs.
 *   `orphanScopes(prefix, known)` lists scopes left by a crash for reconciliation.
 *
 * Devices and privileges (policy/devfs seam): the grant computed from the image's requests and
 * the host policy arrives in `BundleInput.grant`: capabilities to add, devices (Linux: device
 * nodes + cgroup allow rules; FreeBSD: the devfs ruleset number), SysV IPC mode (Linux: `ipc`
 * namespace new/host; FreeBSD: `allow.sysvipc`/`sysvmsg=new|inherit|disable` annotations).
 *
 * Mounts of root filesystems and volumes are performed by src/snapshots/mount.ts (`mountAll`),
 * which calls the host's mount(8) through the platform's `runner`.
 */

import type { RuleInput } from '../devfs/compose.ts';
import type { DefaultPaths } from './defaults.ts';
import type { CommandRunner } from './exec.ts';

/** A runtime-spec mount (config.json `mounts[]`). */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface Rlimit {
  /** RLIMIT_NOFILE, RLIMIT_NPROC, ... (runtime-spec spelling). */
  type: string;
  soft: number;
  hard: number;
}

/** Limits requested on the command line (`--memory`, `--cpus`, `--pids-limit`). */
export interface ResourceLimits {
  /** Bytes; undefined = unlimited. */
  memory?: number;
  /** Fractional CPUs (1.5 = one and a half CPUs). */
  cpus?: number;
  pids?: number;
}

/** What the policy/devfs grant feeds into the bundle. Empty = brig's defaults. */
export interface PrivilegeGrant {
  /** Extra capabilities (`CAP_NET_RAW`), Linux. */
  capabilities?: string[];
  /** Linux device nodes to create, each also allowed in the device cgroup. */
  devices?: Array<{ path: string; type: 'c' | 'b'; major: number; minor: number; fileMode?: number }>;
  /** FreeBSD devfs ruleset number allocated for the container. */
  devfsRuleset?: number;
  /** SysV IPC: 'new' (own namespace), 'inherit' (the host's), 'disable'. */
  sysvipc?: {
    msg?: 'new' | 'inherit' | 'disable';
    shm?: 'new' | 'inherit' | 'disable';
    sem?: 'new' | 'inherit' | 'disable';
  };
  /** FreeBSD `allow.*` parameters. */
  allow?: string[];
  vnet?: boolean;
  childrenMax?: number;
  securelevel?: number;
}

export interface BundleInput {
  /** Container id (64 hex). */
  id: string;
  /** Distinguishes daemons sharing a host (derived from the root dir): scopes live under it. */
  daemonTag: string;
  name: string;
  limits: ResourceLimits;
  grant: PrivilegeGrant;
  readOnlyRoot: boolean;
  /** Whether the process has a terminal (devpts needs to exist). */
  terminal: boolean;
}

/** The OS-specific part of config.json, merged by src/runtime/bundle.ts. */
export interface BundleSection {
  /** Mounts every container gets (proc, dev, ...), before the user's. */
  defaultMounts: OciMount[];
  /** Capabilities of the process (all five sets). */
  capabilities: string[];
  /** Top-level key and value: `linux` or `freebsd`. */
  section: { key: 'linux' | 'freebsd'; value: Record<string, unknown> };
  annotations: Record<string, string>;
  /** Where the resource scope is (cgroup path, rctl subject): recorded with the container. */
  scope: string;
}

export interface RuntimeInfo {
  /** runc | crun | ocijail | runj */
  name: string;
  path: string;
  version: string;
  /** `--root` directory of this daemon's runtime state. */
  stateRoot: string;
  conmon: { path: string; version: string };
  /** Why the others were not chosen (shown in `brig system info`). */
  rejected: Array<{ name: string; reason: string }>;
}

export interface ContainerStats {
  /** Cumulative CPU time in nanoseconds. */
  cpuNanos: number;
  memoryBytes: number;
  memoryLimitBytes?: number;
  pids: number;
  ioReadBytes: number;
  ioWriteBytes: number;
}

export interface ProcessRow {
  pid: number;
  ppid: number;
  user: string;
  /** CPU time in seconds. */
  time: number;
  cmd: string;
}

export interface Platform {
  /** `linux`, `freebsd`, `freebsd-simulated`. */
  readonly name: string;
  /** The OCI platform os of images this host runs. */
  readonly os: 'linux' | 'freebsd';
  /** How host commands run (the fake host intercepts them). */
  readonly runner: CommandRunner;
  defaults(): DefaultPaths;

  /**
   * Finds a working OCI runtime (by running a trivial bundle: the probe that tells crun's refusal
   * of hybrid cgroup hosts) and conmon; `want` is `runtime.name` of the configuration.
   * Cached in `<workDir>/runtime-probe.json` keyed by binary, version and boot.
   * Throws ERR_RUNTIME_UNAVAILABLE (with each candidate's failure) when none works.
   */
  runtime(opts: { want: string; path?: string; conmon?: string; workDir: string }): Promise<RuntimeInfo>;

  /** Rlimits the runtime can set: each clamped to brigd's own hard limit (no CAP_SYS_RESOURCE use). */
  clampRlimits(wanted: readonly Rlimit[]): Promise<Rlimit[]>;

  /** The OS-specific part of the bundle. Pure apart from reading host facts once. */
  bundleSection(input: BundleInput): Promise<BundleSection>;

  /** Creates what the runtime does not (rctl rules, ...). Idempotent. */
  prepareResources(id: string, scope: string, limits: ResourceLimits): Promise<void>;
  /** Removes the resource scope (cgroup dirs / rctl rules). Idempotent; missing is fine. */
  releaseResources(id: string, scope: string): Promise<void>;
  /** Facts about how a container ended that only the host knows (OOM kill). Before release. */
  exitDetails(scope: string): Promise<{ oomKilled: boolean }>;
  /** Scopes under this daemon's parent that no known container owns (crash leftovers). */
  orphanScopes(daemonTag: string, known: ReadonlySet<string>): Promise<string[]>;

  /** Whether a host process exists and is not a zombie (conmon's parent may reap it late). */
  alive(pid: number): boolean;

  /** Mount points at or below `dir`, deepest first. */
  mountsBelow(dir: string): Promise<string[]>;
  /** Unmounts every mount at or below `dir`, deepest first (crash leftovers too). Idempotent. */
  unmountBelow(dir: string): Promise<void>;

  /**
   * Optional (FreeBSD): after `runtime create`, before `runtime start`. Applies what the runtime
   * cannot (`jail -m`: children.max, securelevel, allow.* it grants unasked) and returns facts
   * to record with the container (`jid`). Undo: the runtime delete removes the jail.
   */
  afterCreate?(id: string, scope: string): Promise<{ jid?: number }>;
  /**
   * Optional: runs conmon (its argument vector from src/runtime/conmon.ts `conmonArgs`) until the
   * runtime created the container, through this platform's runner. Platforms whose host is
   * simulated (freebsd-simulated) or planned (--dry-run) provide it; when absent the caller
   * spawns the real conmon (`conmonCreate`).
   */
  startConmon?(
    conmonPath: string,
    args: readonly string[],
    bundle: string,
  ): Promise<{ pid: number; conmonPid: number }>;
  /**
   * Optional: runs a non-interactive `runtime exec` to completion through the runner, for hosts
   * where brigd cannot spawn the runtime itself (freebsd-simulated). Absent: the caller spawns it.
   */
  runExec?(
    runtimePath: string,
    args: readonly string[],
    input?: Buffer,
  ): Promise<import('./exec.ts').CommandResult>;
  /**
   * Optional: where a path of the host really is on this machine, for reading files (a
   * container's /etc/passwd) below mounts this machine cannot see: the simulated host's nullfs
   * mounts exist only in its state, their sources are real directories. Absent: the path itself.
   */
  hostView?(path: string): string;
  /** Optional (FreeBSD): loads a composed devfs ruleset as number N (`devfs rule -s N ...`). */
  loadDevfsRuleset?(number: number, ruleset: { rules: readonly RuleInput[] }): Promise<void>;
  /** Optional (FreeBSD): deletes devfs ruleset N once the allocator freed it. */
  deleteDevfsRuleset?(number: number): Promise<void>;

  stats(scope: string): Promise<ContainerStats>;
  /** Processes of the container (for `brig top`). */
  processes(scope: string): Promise<ProcessRow[]>;

  /**
   * A command that bridges a SOCK_SEQPACKET unix socket (conmon's attach socket) to its own
   * stdin/stdout, framing each packet read as [u32 big-endian length][packet]. Node cannot open
   * SEQPACKET sockets itself.
   */
  seqpacketBridge(socketPath: string): { cmd: string; args: string[] };
  /**
   * Optional: the same bridge, started before the socket exists (its start-up then overlaps the
   * container's creation): it reads the socket path as the first line of its stdin, then
   * connects and behaves as above.
   */
  seqpacketBridgeDeferred?(): { cmd: string; args: string[] };
}

/**
 * Containers: records and their state machine. A container is a RECORD (what to run: image,
 * command, limits, mounts, restart policy); the running process is the runtime's business
 * (src/runtime). The record says what brigd last knew, and reconciliation makes it true again
 * after a daemon restart.
 *
 *            create            start (ok)             process exits
 *   (none) ---------> created ------------> running ---------------> exited
 *                        ^  start fails:      |  ^                     |
 *                        |  exited, reason    |  '---- start/restart --'
 *                        |  failed-to-start   |
 *                        |                    '-> dead: brigd could not release what it held
 *   rm: created | exited | dead (running only with -f, which kills first)
 *
 * `restarting` is shown, not stored: an `exited` record whose restart policy has a restart
 * pending (`status.restartAt`, the back-off) is `restarting` in the API, `brig ps` and filters
 * (docker's state of that name); `start`, `stop`, `rm` treat it as the `exited` it is.
 *
 * While a container is not running it holds nothing on the host but its record, its directory
 * (bundle, logs) and its volumes' records: the root filesystem snapshot, its mounts, the
 * cgroup, the runtime state and conmon exist only from start to exit (ephemeral by default).
 *
 * Exit reasons: `exited` (the process exited by itself with `exitCode`), `signal` (killed by
 * signal `exitCode - 128`, docker's convention), `oom-killed` (the kernel's OOM killer, under
 * --memory), `failed-to-start` (`error` says why; `exitCode` is docker's: 127 when the command
 * does not exist in the container, 126 when it cannot be run, 125 for any other failure).
 */

export type ContainerState = 'created' | 'running' | 'exited' | 'dead';
export type ExitReason = 'exited' | 'signal' | 'oom-killed' | 'failed-to-start';

export type RestartPolicyName = 'no' | 'on-failure' | 'always' | 'unless-stopped';
export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure:N — at most N restarts (0 = no limit). */
  maxRetries: number;
}

export interface MountRequest {
  /** As given: `-v SRC:DST[:ro]`, `--mount type=...`, `--tmpfs DST[:opts]`. */
  kind: 'volume' | 'mount' | 'tmpfs';
  value: string;
}

/** What `create` was asked: stored as JSON in `containers.spec`. */
export interface ContainerSpec {
  image: string;
  command: string[];
  entrypoint?: string;
  env: string[];
  workdir?: string;
  user?: string;
  tty: boolean;
  stdin: boolean;
  hostname?: string;
  readOnly: boolean;
  mounts: MountRequest[];
  memory?: number;
  cpus?: number;
  pidsLimit?: number;
  restart: RestartPolicy;
  autoRemove: boolean;
  stopSignal?: string;
  /** Seconds. */
  stopTimeout?: number;
  labels: Record<string, string>;
  /** Privileges the operator granted with --grant (policy seam). */
  grants?: string[];
  /** The mounts resolved at create (volumes created and acquired then). */
  resolvedMounts?: StoredMount[];
}

export interface StoredMount {
  type: 'bind' | 'tmpfs';
  source: string;
  destination: string;
  options: string[];
  volume?: string;
  /** A volume made for this container: copy the image's files into it at the first start. */
  populate?: boolean;
}

/** What brigd knows about the last run: stored as JSON in `containers.status`. */
export interface ContainerStatus {
  pid?: number;
  /** FreeBSD: the jail id of the current run. */
  jid?: number;
  conmonPid?: number;
  exitCode?: number;
  reason?: ExitReason;
  error?: string;
  startedAt?: number;
  finishedAt?: number;
  restartCount: number;
  /** The resource scope (cgroup path) of the current run. */
  scope?: string;
  /** Mounts of the root filesystem made for the current run (for unmount after a restart). */
  rootfsMounts?: number;
  /** The user stopped it (stop/kill): no restart for on-failure/unless-stopped/always-until-restart. */
  stoppedByUser?: boolean;
  /** Set while brigd waits to restart it (milliseconds since the epoch). */
  restartAt?: number;
  /** Destinations of volumes already populated from the image. */
  populated?: string[];
  /** The image's resolved process, for inspect. */
  process?: { args: string[]; env: string[]; cwd: string; user: string };
}

export interface Container {
  id: string;
  name: string;
  /** The image reference as given. */
  image: string;
  /** The image's config digest. */
  imageId: string;
  state: ContainerState;
  createdAt: number;
  spec: ContainerSpec;
  status: ContainerStatus;
  labels: Record<string, string>;
}

/** What the API and `brig ps` show: `restarting` while a restart is pending (see the header). */
export type ShownState = ContainerState | 'restarting';
export const shownState = (c: Pick<Container, 'state' | 'status'>): ShownState =>
  c.state === 'exited' && c.status.restartAt !== undefined ? 'restarting' : c.state;

export const canStart = (s: ContainerState): boolean => s === 'created' || s === 'exited';
export const canStop = (s: ContainerState): boolean => s === 'running';
export const canKill = canStop;
export const canExec = canStop;
export const canRemove = (s: ContainerState, force: boolean): boolean => force || s !== 'running';

/** Parses `no`, `on-failure[:N]`, `always`, `unless-stopped`. */
export function parseRestartPolicy(s: string | undefined): RestartPolicy | undefined {
  if (s === undefined || s === '') return { name: 'no', maxRetries: 0 };
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(s);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) return undefined;
  return { name: m[1] as RestartPolicyName, maxRetries: m[2] ? Number(m[2]) : 0 };
}

/** Whether the policy restarts a container that just exited (pure). */
export function shouldRestart(p: RestartPolicy, st: ContainerStatus): boolean {
  if (st.stoppedByUser) return false;
  switch (p.name) {
    case 'no':
      return false;
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return st.exitCode !== 0 && (p.maxRetries === 0 || st.restartCount < p.maxRetries);
  }
}

/**
 * Back-off before restart number `n` (0-based): 100 ms doubling up to 60 s, docker's schedule.
 * A run that lasted 10 s or more resets the count (the caller passes n = 0 then).
 */
export function restartDelay(n: number): number {
  return Math.min(60_000, 100 * 2 ** Math.min(n, 20));
}

/** Parses `512m`, `1g`, `1048576` (bytes; k/m/g/t powers of 1024). */
export function parseSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  return Math.floor(Number(m[1]) * mult);
}

export function exitReason(code: number, oomKilled: boolean): ExitReason {
  if (oomKilled) return 'oom-killed';
  if (code > 128 && code < 128 + 65) return 'signal';
  return 'exited';
}

/**
 * SimulatedFreeBSDHost: a FreeBSD host that exists only in memory (and, when given a state file,
 * on disk as JSON), answering the commands brig runs on FreeBSD the way the real tools answer
 * them. It is a `CommandRunner`, so code written for `hostRunner` runs against it unchanged.
 * It never starts a process on the real host.
 *
 * Contract:
 * - `run(cmd, args, opts)`: `cmd` is a tool name (`jail`) or its FreeBSD path (`/usr/sbin/jail`);
 *   any other path or name is ERR_COMMAND_NOT_FOUND. Each command is atomic: its changes are
 *   committed only if it exits 0 (except where the real tool stops half way). With `check`
 *   (default true) a non-zero exit rejects with ERR_COMMAND_FAILED, as `hostRunner` does.
 * - Every command is appended to `log` (cmd, args, stdin) before it runs, faulted or not; the
 *   runtime invocations conmon makes are logged too, with `via: 'conmon'`.
 * - `failNext(match, result)` makes the next matching command fail without running;
 *   `failAlways` makes every matching one fail until `clearFaults()`.
 * - `state()` is a deep, JSON-safe copy of everything the host holds (allocation counters left
 *   out); equal states mean an equal host. `save(file)`/`load(file)` keep the whole state;
 *   with `stateFile` every mutating command saves it atomically (temp file + rename).
 * - Real-filesystem effects: config.json, process specs and pf rule files are read from the real
 *   filesystem; conmon's pid, log and exit files and ocijail's pid file are written for real;
 *   directories for ZFS mountpoints are created only under `writable` prefixes; path existence
 *   checks see the real filesystem plus simulated paths (mountpoints, `paths`).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { BrigError } from '../../errors/errors.ts';
import { type CommandResult, type CommandRunner, commandFailed, type RunOptions } from '../exec.ts';
import {
  CONMON_PATH,
  type ConmonHooks,
  conmonTool,
  containerByKey,
  OCIJAIL_PATH,
  type OcijailHooks,
  ocijailTool,
} from './conmon-ocijail.ts';
import { cpTool } from './cp-tool.ts';
import { DEFAULT_DEVICES, devfsTool, loadDevfsRules, visibleDevices } from './devfs-tool.ts';
import { DEFAULT_DEVFS_RULES, DEFAULT_SYSCTLS, type HostOptions, type HostState } from './host-state.ts';
import { ifconfigTool } from './ifconfig-tool.ts';
import { JAIL_PARAMS, jailTool, jexecTool, jlsTool } from './jail-tools.ts';
import { endContainer } from './lifecycle.ts';
import {
  mountNfsTool,
  mountNullfsTool,
  mountTmpfsTool,
  mountTool,
  mountUnionfsTool,
  umountTool,
} from './mount-tools.ts';
import { pfctlTool, rctlTool, sysctlTool } from './pf-rctl-sysctl.ts';
import { psTool } from './ps-tool.ts';
import {
  type ExecAnswer,
  type ExecRequest,
  isUnder,
  normPath,
  type ToolContext,
  ToolExit,
  type ToolHandler,
  type ToolOutput,
} from './tool.ts';
import { zfsTool } from './zfs-tool.ts';

export interface LoggedCommand {
  cmd: string;
  args: string[];
  stdin?: string;
  /** Set for commands another simulated tool ran (conmon running ocijail). */
  via?: string;
  /** Set when an injected fault answered instead of the tool. */
  faulted?: boolean;
}

export type CommandMatch =
  | { cmd: string; args?: (string | RegExp)[] }
  | ((cmd: string, args: readonly string[]) => boolean);

export interface FaultResult {
  code?: number;
  stderr?: string;
  stdout?: string;
}

/** Behaviour of a container's init process, decided when it starts. */
export interface ProcessBehaviour {
  /** Exit with this status as soon as `ocijail start` runs. */
  exitOnStart?: number;
  /** Signal names (TERM, INT, HUP...) the process ignores; KILL always ends it. */
  ignoreSignals?: string[];
}

export interface HostConfig extends HostOptions {
  /** Save the state here after every mutating command; loaded by `SimulatedFreeBSDHost.open`. */
  stateFile?: string;
  /** Real path prefixes under which the simulator may create directories (ZFS mountpoints). */
  writable?: string[];
  /** Real directory for snapshot contents (enables the `zfs diff` content model). */
  contentDir?: string;
  /** Answers jexec and non-detached `ocijail exec` (default: exit 0, no output). */
  exec?: (req: ExecRequest) => ExecAnswer;
  behaviour?: (c: { id: string; argv: string[] }) => ProcessBehaviour | undefined;
  /** Milliseconds since the epoch (default Date.now). */
  clock?: () => number;
  /** Write pid, log and exit files and mountpoint directories for real (default true). */
  realEffects?: boolean;
}

export type SimulatedState = Omit<HostState, 'counters'>;

interface Fault {
  match: CommandMatch;
  result: FaultResult;
  once: boolean;
}

/** Where each tool lives on FreeBSD; `run` accepts the bare name or exactly this path. */
export const TOOL_PATHS: Record<string, string> = {
  jail: '/usr/sbin/jail',
  jls: '/usr/sbin/jls',
  jexec: '/usr/sbin/jexec',
  devfs: '/sbin/devfs',
  mount: '/sbin/mount',
  mount_nullfs: '/sbin/mount_nullfs',
  mount_unionfs: '/sbin/mount_unionfs',
  mount_nfs: '/sbin/mount_nfs',
  mount_tmpfs: '/sbin/mount_tmpfs',
  umount: '/sbin/umount',
  ifconfig: '/sbin/ifconfig',
  pfctl: '/sbin/pfctl',
  rctl: '/usr/bin/rctl',
  zfs: '/sbin/zfs',
  sysctl: '/sbin/sysctl',
  ps: '/bin/ps',
  cp: '/bin/cp',
  conmon: CONMON_PATH,
  ocijail: OCIJAIL_PATH,
};

export function freshState(opts: HostOptions = {}): HostState {
  const st: HostState = {
    version: 1,
    counters: { lastJid: 0, nextPid: 1000, txg: 1, guid: 0 },
    jails: {},
    devfsRulesets: {},
    mounts: [],
    interfaces: [],
    pf: { enabled: false, anchors: {} },
    rctl: [],
    usage: {},
    datasets: {},
    sysctl: {
      ...DEFAULT_SYSCTLS,
      // security.jail.param.*: one read-only oid per jail parameter the kernel knows (0, or the
      // maximum length of a string parameter), as jail(8) and libjail discover them.
      ...Object.fromEntries(
        Object.entries(JAIL_PARAMS).map(([k, d]) => [
          `security.jail.param.${k}`,
          d.type === 'string' ? String(d.size ?? 1024) : '0',
        ]),
      ),
      ...(opts.sysctl ?? {}),
    },
    processes: {},
    containers: {},
    paths: [...(opts.paths ?? [])].map(normPath),
    nfsExports: [...(opts.nfsExports ?? [])],
  };
  const pools = opts.pools ?? [];
  st.mounts.push(
    pools.length
      ? { fstype: 'zfs', source: `${pools[0]}/ROOT/default`, target: '/', options: ['noatime'] }
      : { fstype: 'ufs', source: '/dev/vtbd0p2', target: '/', options: [] },
  );
  st.mounts.push({ fstype: 'devfs', source: 'devfs', target: '/dev', options: [], ruleset: 0 });
  for (const p of pools) {
    st.counters.guid++;
    st.datasets[p] = {
      name: p,
      type: 'filesystem',
      guid: String(BigInt(st.counters.guid) * 2654435761n + 1000000007n),
      createtxg: 1,
      creation: 0,
      props: {},
      mounted: true,
    };
    st.mounts.push({ fstype: 'zfs', source: p, target: `/${p}`, options: [] });
    st.paths.push(`/${p}`);
  }
  st.interfaces.push({
    name: 'lo0',
    vnet: 0,
    kind: 'loopback',
    up: true,
    mtu: 16384,
    inet: [{ addr: '127.0.0.1', prefix: 8 }],
    inet6: [{ addr: '::1', prefix: 128 }],
  });
  (opts.physical ?? ['vtnet0']).forEach((n, i) => {
    st.interfaces.push({
      name: n,
      vnet: 0,
      kind: 'ethernet',
      up: true,
      mtu: 1500,
      ether: `58:9c:fc:00:00:${(i + 1).toString(16).padStart(2, '0')}`,
      inet: i === 0 ? [opts.hostAddress ?? { addr: '192.0.2.10', prefix: 24 }] : [],
      inet6: [],
    });
  });
  loadDevfsRules(st, DEFAULT_DEVFS_RULES);
  return st;
}

export class SimulatedFreeBSDHost implements CommandRunner {
  readonly log: LoggedCommand[] = [];
  private st: HostState;
  private faults: Fault[] = [];
  private readonly config: HostConfig;

  constructor(config: HostConfig = {}, initial?: HostState) {
    this.config = config;
    this.st = initial ? structuredClone(initial) : freshState(config);
  }

  /** Opens the host persisted in `config.stateFile`, or boots a fresh one there. */
  static open(config: HostConfig & { stateFile: string }): SimulatedFreeBSDHost {
    if (existsSync(config.stateFile))
      return new SimulatedFreeBSDHost(config, readStateFile(config.stateFile));
    const h = new SimulatedFreeBSDHost(config);
    h.save(config.stateFile);
    return h;
  }

  // ---- CommandRunner --------------------------------------------------------------------------

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const stdin = opts.input === undefined ? Buffer.alloc(0) : Buffer.from(opts.input);
    const r = this.runSync(cmd, [...args], stdin, opts.cwd);
    const result: CommandResult = {
      code: r.code,
      signal: null,
      stdout: Buffer.from(r.stdout),
      stderr: Buffer.from(r.stderr),
    };
    if ((opts.check ?? true) && r.code !== 0) throw commandFailed(cmd, args, result);
    return result;
  }

  private resolve(cmd: string): string {
    const base = cmd.includes('/') ? cmd.slice(cmd.lastIndexOf('/') + 1) : cmd;
    const path = TOOL_PATHS[base];
    if (!path || (cmd.includes('/') && cmd !== path)) {
      throw new BrigError(
        'ERR_COMMAND_NOT_FOUND',
        `${cmd} is not installed or not on PATH (simulated FreeBSD host)`,
      );
    }
    return base;
  }

  private runSync(cmd: string, args: string[], stdin: Buffer, cwd?: string): ToolOutput {
    const tool = this.resolve(cmd);
    const entry: LoggedCommand = { cmd, args: [...args] };
    if (stdin.length) entry.stdin = stdin.toString('utf8');
    this.log.push(entry);
    const fault = this.takeFault(cmd, args);
    if (fault) {
      entry.faulted = true;
      return {
        code: fault.code ?? 1,
        stdout: fault.stdout ?? '',
        stderr: fault.stderr ?? `${tool}: injected failure\n`,
      };
    }
    return this.transact(stdin, (ctx) => this.dispatch(tool, ctx, args), cwd);
  }

  private transact(stdin: Buffer, fn: (ctx: ToolContext) => ToolOutput, cwd?: string): ToolOutput {
    const before = JSON.stringify(this.st);
    const ctx = this.context(structuredClone(this.st), stdin, cwd ?? process.cwd());
    let out: ToolOutput;
    try {
      out = fn(ctx);
    } catch (e) {
      if (!(e instanceof ToolExit)) throw e;
      out = { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
    if (out.code === 0 || ctx.keepOnFailure) {
      this.st = ctx.st;
      if (this.config.realEffects !== false) for (const effect of ctx.effects) effect();
      if (this.config.stateFile && JSON.stringify(this.st) !== before) this.save(this.config.stateFile);
    }
    return out;
  }

  private context(st: HostState, stdin: Buffer, cwd: string): ToolContext {
    const writable = (this.config.writable ?? []).map(normPath);
    // Relative paths are relative to the command's working directory (RunOptions.cwd).
    const abs = (p: string) => resolvePath(cwd, p);
    const ctx: ToolContext = {
      st,
      stdin,
      effects: [],
      keepOnFailure: false,
      abs,
      isDir: (p) => this.pathKind(ctx.st, abs(p)) === 'dir',
      isFile: (p) => this.pathKind(ctx.st, abs(p)) === 'file',
      readFile: (p) => {
        try {
          return readFileSync(abs(p));
        } catch {
          return undefined;
        }
      },
      exec: (req) => this.config.exec?.(req) ?? { code: 0 },
      now: () => (this.config.clock ?? Date.now)(),
      canWrite: (p) => writable.some((w) => isUnder(normPath(p), w)),
      contentDir: this.config.contentDir,
    };
    return ctx;
  }

  /** What a path is on the simulated host: simulated directories and mount points, else the real fs. */
  private pathKind(st: HostState, raw: string): 'dir' | 'file' | undefined {
    const p = normPath(raw);
    if (p === '/' || st.paths.includes(p) || st.mounts.some((m) => m.target === p && m.fstype !== 'nullfs'))
      return 'dir';
    // A path inside a nullfs mount is the same path inside its source.
    const nm = [...st.mounts]
      .reverse()
      .find((m) => m.fstype === 'nullfs' && isUnder(p, m.target) && p !== m.target);
    if (nm) return this.pathKind(st, nm.source + p.slice(nm.target.length));
    try {
      const s = statSync(p);
      return s.isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  }

  private dispatch(tool: string, ctx: ToolContext, args: string[]): ToolOutput {
    const handlers: Record<string, ToolHandler> = {
      jail: jailTool,
      jls: jlsTool,
      jexec: jexecTool,
      devfs: devfsTool,
      mount: mountTool,
      mount_nullfs: mountNullfsTool,
      mount_unionfs: mountUnionfsTool,
      mount_nfs: mountNfsTool,
      mount_tmpfs: mountTmpfsTool,
      umount: umountTool,
      ifconfig: ifconfigTool,
      pfctl: pfctlTool,
      rctl: rctlTool,
      zfs: zfsTool,
      sysctl: sysctlTool,
      ps: psTool,
      cp: cpTool,
    };
    if (tool === 'conmon') return conmonTool(ctx, args, this.conmonHooks(ctx));
    if (tool === 'ocijail') return ocijailTool(ctx, args, this.ocijailHooks(ctx));
    return handlers[tool]!(ctx, args);
  }

  private allocPid(ctx: ToolContext): number {
    ctx.st.counters.nextPid += 1;
    return ctx.st.counters.nextPid;
  }

  private ocijailHooks(ctx: ToolContext): OcijailHooks {
    return {
      allocPid: () => this.allocPid(ctx),
      exitOnStart: (c, argv) => this.config.behaviour?.({ id: c.id, argv })?.exitOnStart,
      ignoreSignals: (c, argv) => this.config.behaviour?.({ id: c.id, argv })?.ignoreSignals ?? [],
      createJail: (params) => {
        try {
          return jailTool(ctx, ['-c', ...params]);
        } catch (e) {
          if (e instanceof ToolExit) return { code: e.code, stdout: e.stdout, stderr: e.stderr };
          throw e;
        }
      },
    };
  }

  private conmonHooks(ctx: ToolContext): ConmonHooks {
    return {
      allocPid: () => this.allocPid(ctx),
      runRuntime: (rargs) => {
        this.log.push({ cmd: OCIJAIL_PATH, args: [...rargs], via: 'conmon' });
        const fault = this.takeFault(OCIJAIL_PATH, rargs);
        if (fault) {
          this.log[this.log.length - 1]!.faulted = true;
          return {
            code: fault.code ?? 1,
            stdout: fault.stdout ?? '',
            stderr: fault.stderr ?? 'ocijail: injected failure\n',
          };
        }
        try {
          return ocijailTool(ctx, rargs, this.ocijailHooks(ctx));
        } catch (e) {
          if (e instanceof ToolExit) return { code: e.code, stdout: e.stdout, stderr: e.stderr };
          throw e;
        }
      },
    };
  }

  /**
   * A copy of this host to try commands on (a `--dry-run` plan): same state and handlers, no
   * state file, nothing written to the real filesystem, an empty log.
   */
  fork(): SimulatedFreeBSDHost {
    const { stateFile: _, ...config } = this.config;
    return new SimulatedFreeBSDHost({ ...config, realEffects: false }, this.st);
  }

  // ---- fault injection ------------------------------------------------------------------------

  failNext(match: CommandMatch, result: FaultResult = {}): void {
    this.faults.push({ match, result, once: true });
  }

  failAlways(match: CommandMatch, result: FaultResult = {}): void {
    this.faults.push({ match, result, once: false });
  }

  clearFaults(): void {
    this.faults = [];
  }

  private takeFault(cmd: string, args: readonly string[]): FaultResult | undefined {
    const i = this.faults.findIndex((f) => matchCommand(f.match, cmd, args));
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    if (f.once) this.faults.splice(i, 1);
    return f.result;
  }

  // ---- state ----------------------------------------------------------------------------------

  state(): SimulatedState {
    const { counters: _, ...rest } = structuredClone(this.st);
    return rest;
  }

  save(file: string): void {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, `${JSON.stringify(this.st, null, 1)}\n`);
    renameSync(tmp, file);
  }

  load(file: string): void {
    this.st = readStateFile(file);
  }

  // ---- test and daemon helpers ----------------------------------------------------------------

  /**
   * Ends a container's init process (by container id, jail name or jid) with `status`; conmon's
   * exit files are written before this returns.
   */
  async exitProcess(container: string | number, status: number): Promise<void> {
    const out = this.transact(Buffer.alloc(0), (ctx) => {
      const c = containerByKey(ctx.st, container);
      if (!c) throw new ToolExit(1, `no container ${container}`);
      if (c.status === 'stopped') throw new ToolExit(1, `container ${c.id} is not running`);
      endContainer(ctx, c, status);
      return { code: 0, stdout: '', stderr: '' };
    });
    if (out.code !== 0) throw new BrigError('ERR_NOT_FOUND', out.stderr.trim());
  }

  /**
   * Whether a pid is alive on the simulated host: a process in the table, or the conmon of a
   * container that has not stopped (conmon exits once it has written the exit files). Cheaper
   * than `state()`, which copies everything.
   */
  isProcessAlive(pid: number): boolean {
    if (this.st.processes[String(pid)]) return true;
    return Object.values(this.st.containers).some((c) => c.conmon?.pid === pid && c.status !== 'stopped');
  }

  /** Appends what a container printed to its conmon log, in k8s-file format. */
  emitOutput(container: string, stream: 'stdout' | 'stderr', text: string): void {
    const c = containerByKey(this.st, container);
    const lp = c?.conmon?.logPath;
    if (!lp) return;
    const ts = new Date((this.config.clock ?? Date.now)()).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
    const parts = text.split('\n');
    let out = '';
    parts.forEach((line, i) => {
      const last = i === parts.length - 1;
      if (last && line === '') return;
      out += `${ts} ${stream} ${last ? 'P' : 'F'} ${line}\n`;
    });
    writeFileSync(lp, out, { flag: 'a' });
  }

  /** Resource usage `rctl -u jail:NAME` reports (memoryuse, pcpu, ...). */
  setUsage(jailName: string, usage: Record<string, number>): void {
    this.transact(Buffer.alloc(0), (ctx) => {
      ctx.st.usage[jailName] = { ...(ctx.st.usage[jailName] ?? {}), ...usage };
      return { code: 0, stdout: '', stderr: '' };
    });
  }

  setExecHandler(fn: HostConfig['exec']): void {
    this.config.exec = fn;
  }

  setBehaviour(fn: HostConfig['behaviour']): void {
    this.config.behaviour = fn;
  }

  /** Device nodes visible in the devfs mounted at `mountpoint`, from its current ruleset. */
  visibleDevices(mountpoint: string, devices: readonly string[] = DEFAULT_DEVICES): string[] {
    const m = [...this.st.mounts]
      .reverse()
      .find((x) => x.target === normPath(mountpoint) && x.fstype === 'devfs');
    if (!m) throw new BrigError('ERR_NOT_FOUND', `no devfs mounted at ${mountpoint}`);
    return visibleDevices(this.st, m.ruleset ?? 0, devices);
  }
}

function matchCommand(m: CommandMatch, cmd: string, args: readonly string[]): boolean {
  if (typeof m === 'function') return m(cmd, args);
  const base = (c: string) => (c.includes('/') ? c.slice(c.lastIndexOf('/') + 1) : c);
  if (base(m.cmd) !== base(cmd)) return false;
  if (!m.args) return true;
  // The pattern matches a prefix of the arguments; a RegExp matches one argument.
  return m.args.every((p, i) =>
    typeof p === 'string' ? args[i] === p : args[i] !== undefined && p.test(args[i]!),
  );
}

function readStateFile(file: string): HostState {
  const st = JSON.parse(readFileSync(file, 'utf8')) as HostState;
  if (st.version !== 1)
    throw new BrigError(
      'ERR_INVALID_ARGUMENT',
      `${file}: not a simulated FreeBSD host state (version ${String(st.version)})`,
    );
  return st;
}

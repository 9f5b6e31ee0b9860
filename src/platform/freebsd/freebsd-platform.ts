/**
 * The FreeBSD platform: containers are jails made by ocijail (or runj) under conmon. Every host
 * command runs through `runner`: the real host's on FreeBSD, the SimulatedFreeBSDHost under
 * `--platform freebsd-simulated`, a recording runner for `--dry-run` plans. Nothing here starts
 * a process or reads the host's state any other way.
 *
 * What comes from where (see docs/freebsd.md for the table):
 *   - The jail: ocijail creates it from config.json (name = container id, persist,
 *     enforce_statfs=1, allow.raw_sockets, allow.chflags, path, host.hostname, sysv* and vnet
 *     from its `org.freebsd.jail.*` annotations, allow.* from `org.freebsd.jail.allow.*`).
 *     ocijail ignores the runtime spec's `freebsd` section; brig writes it too, for runj and
 *     for readers of the bundle.
 *   - The parameters the jail must end up with come from ONE function, freebsdJailParams
 *     (src/policy/effects.ts). What ocijail's annotations and defaults leave different
 *     (children.max, securelevel, devfs_ruleset, allow.noset_hostname, allow.* outside
 *     ocijail's list, and the two permissions it always grants, allow.raw_sockets and
 *     allow.chflags) is corrected by `afterCreate` with `jail -m jid=N ...` BEFORE
 *     `ocijail start` runs the container's process: a privilege the grant does not hold never
 *     reaches the running jail. The wanted parameters travel in the
 *     bundle's `org.brig.jail.modify` annotation, so afterCreate reads them back from
 *     `ocijail state` (which also gives the jid) and needs no memory of its own.
 *   - /dev/fd: fdescfs, always; /proc: procfs when the grant holds allow.mount.procfs.
 *   - devfs: mounted at /dev by ocijail from config.json with `ruleset=N`, N the container's
 *     ruleset (grant.devfsRuleset, allocated by src/devfs), else 4 ($devfsrules_jail). Rules are
 *     loaded with `loadDevfsRuleset` (the `devfs rule -s N ...` commands of src/devfs) when the
 *     allocator reports a new ruleset, deleted with `deleteDevfsRuleset` when it frees one.
 *   - Limits: rctl rules on the jail (`rctl -a jail:ID:memoryuse:deny=BYTES`,
 *     `jail:ID:pcpu:deny=PERCENT`, `jail:ID:maxproc:deny=N`), added before the jail exists
 *     (rctl keys jail rules by name) and removed with `rctl -r jail:ID`. Any limit on a host with
 *     `kern.racct.enable=0` is ERR_RACCT_DISABLED at create, before the record or a devfs
 *     ruleset exists (./racct.ts via src/privileges/containers.ts), and again at start.
 *   - The resource scope is `jail:<id>` (the rctl subject).
 */
import { deleteRulesetCommands, loadRulesetCommands } from '../../devfs/commands.ts';
import { type RuleInput, rulesetOf } from '../../devfs/compose.ts';
import { BrigError } from '../../errors/errors.ts';
import { freebsdJailParams } from '../../policy/effects.ts';
import { type DefaultPaths, defaultPaths } from '../defaults.ts';
import type { CommandRunner } from '../exec.ts';
import type {
  BundleInput,
  BundleSection,
  ContainerStats,
  OciMount,
  Platform,
  ProcessRow,
  ResourceLimits,
  Rlimit,
  RuntimeInfo,
} from '../platform.ts';
import { seqpacketBridgeCommand } from '../seqpacket-bridge.ts';
import { racctDisabled, racctEnabled } from './racct.ts';

/** ocijail's list of allow.* parameters it passes through from annotations (create.cpp). */
export const OCIJAIL_ALLOW = new Set([
  'adjtime',
  'chflags',
  'extattr',
  'mlock',
  'mount',
  'mount.devfs',
  'mount.fdescfs',
  'mount.nullfs',
  'mount.procfs',
  'mount.tmpfs',
  'mount.zfs',
  'nfsd',
  'quotas',
  'raw_sockets',
  'read_msgbuf',
  'reserved_ports',
  'routing',
  'set_hostname',
  'setaudit',
  'settime',
  'socket_af',
  'suser',
  'sysvipc',
  'unprivileged_parent_tampering',
  'unprivileged_proc_debug',
]);

/** Annotation carrying the `jail -m` parameters afterCreate applies. */
export const MODIFY_ANNOTATION = 'org.brig.jail.modify';

const RUNTIMES: Record<string, string> = { ocijail: '/usr/local/bin/ocijail', runj: '/usr/local/bin/runj' };
const CONMON = '/usr/local/bin/conmon';

export interface FreeBSDPlatformOptions {
  runner: CommandRunner;
  /** `freebsd` (default) or `freebsd-simulated`. */
  name?: string;
}

export class FreeBSDPlatform implements Platform {
  readonly name: string;
  readonly os = 'freebsd' as const;
  readonly runner: CommandRunner;
  #info: RuntimeInfo | undefined;
  #racct: Promise<boolean> | undefined;
  /** Set for simulated and planned hosts only: a real conmon is spawned with its sync pipe. */
  startConmon?: (
    conmonPath: string,
    args: readonly string[],
    bundle: string,
  ) => Promise<{ pid: number; conmonPid: number }>;
  hostView?: (path: string) => string;
  runExec?: (
    runtimePath: string,
    args: readonly string[],
    input?: Buffer,
  ) => Promise<import('../exec.ts').CommandResult>;
  /** Whether a host process lives: signal 0 here; the simulated host answers from its state. */
  alive: (pid: number) => boolean = (pid) => {
    if (!(pid > 0)) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  };

  constructor(opts: FreeBSDPlatformOptions) {
    this.runner = opts.runner;
    this.name = opts.name ?? 'freebsd';
  }

  defaults(): DefaultPaths {
    return defaultPaths('freebsd');
  }

  // ---- runtime ---------------------------------------------------------------------------------

  /** `RUNTIME --version` and `conmon --version` through the runner; the first that answers wins. */
  async runtime(opts: {
    want: string;
    path?: string;
    conmon?: string;
    workDir: string;
  }): Promise<RuntimeInfo> {
    if (this.#info?.stateRoot.startsWith(opts.workDir)) return this.#info;
    const candidates = opts.want === 'auto' || opts.want === '' ? ['ocijail', 'runj'] : [opts.want];
    const rejected: Array<{ name: string; reason: string }> = [];
    const conmonPath = opts.conmon ?? CONMON;
    const conmon = await this.#version(conmonPath);
    if (conmon.error !== undefined)
      throw new BrigError('ERR_RUNTIME_UNAVAILABLE', `conmon does not run: ${conmon.error}`, {
        hint: 'pkg install conmon',
      });
    for (const name of candidates) {
      const path = (opts.path && candidates.length === 1 ? opts.path : undefined) ?? RUNTIMES[name];
      if (!path) {
        rejected.push({ name, reason: 'not a FreeBSD OCI runtime (ocijail, runj)' });
        continue;
      }
      const v = await this.#version(path);
      if (v.error !== undefined) {
        rejected.push({ name, reason: v.error });
        continue;
      }
      this.#info = {
        name,
        path,
        version: v.version,
        stateRoot: `${opts.workDir.replace(/\/+$/, '')}/${name}`,
        conmon: { path: conmonPath, version: conmon.version },
        rejected,
      };
      return this.#info;
    }
    throw new BrigError(
      'ERR_RUNTIME_UNAVAILABLE',
      `no OCI runtime works: ${rejected.map((r) => `${r.name}: ${r.reason}`).join('; ')}`,
      { hint: 'pkg install ocijail', details: { rejected } },
    );
  }

  async #version(path: string): Promise<{ version: string; error?: string }> {
    try {
      const r = await this.runner.run(path, ['--version'], { check: false });
      const text = `${r.stdout.toString()}\n${r.stderr.toString()}`;
      if (r.code !== 0) return { version: '', error: text.trim() || `exit status ${r.code}` };
      const m = /version\s+(\S+)/.exec(text);
      return { version: m ? m[1]! : text.trim().split('\n')[0]! };
    } catch (e) {
      return { version: '', error: (e as Error).message };
    }
  }

  /** ocijail does not apply process.rlimits: none are written. */
  async clampRlimits(_wanted: readonly Rlimit[]): Promise<Rlimit[]> {
    return [];
  }

  // ---- bundle ----------------------------------------------------------------------------------

  async bundleSection(input: BundleInput): Promise<BundleSection> {
    const g = input.grant;
    const params = freebsdJailParams(g);
    const defaultMounts: OciMount[] = [
      { destination: '/dev', type: 'devfs', source: 'devfs', options: [`ruleset=${params.devfs_ruleset}`] },
      { destination: '/dev/fd', type: 'fdescfs', source: 'fdesc', options: [] },
    ];
    // procfs only for images granted it (FreeBSD programs rarely need it; it shows the jail's processes)
    if (params['allow.mount.procfs'] === 'true')
      defaultMounts.push({
        destination: '/proc',
        type: 'procfs',
        source: 'proc',
        options: ['nosuid', 'noexec'],
      });
    const annotations = ocijailAnnotations(params);
    const modify = jailModifications(params);
    if (modify.length) annotations[MODIFY_ANNOTATION] = modify.join(' ');
    const jail: Record<string, unknown> = {
      host: 'new',
      vnet: params.vnet,
      enforceStatfs: Number(params.enforce_statfs),
    };
    for (const k of ['msg', 'sem', 'shm'] as const)
      if (params[`sysv${k}`]) jail[`sysv${k}`] = params[`sysv${k}`];
    const granted = Object.keys(params)
      .filter((k) => k.startsWith('allow.') && params[k] === 'true')
      .map((k) => k.slice(6));
    const specAllow: Record<string, unknown> = {};
    const camel: Record<string, string> = {
      set_hostname: 'setHostname',
      raw_sockets: 'rawSockets',
      chflags: 'chflags',
      quotas: 'quotas',
      socket_af: 'socketAf',
      reserved_ports: 'reservedPorts',
      suser: 'suser',
      sysvipc: 'sysvipc',
    };
    for (const a of granted) if (camel[a]) specAllow[camel[a]!] = true;
    const mounts = granted.filter((a) => a.startsWith('mount.')).map((a) => a.slice(6));
    if (mounts.length) specAllow.mount = mounts.sort();
    if (Object.keys(specAllow).length) jail.allow = specAllow;
    return {
      defaultMounts,
      capabilities: [],
      section: { key: 'freebsd', value: { jail } },
      annotations,
      scope: scopeOf(input.id),
    };
  }

  // ---- resources -------------------------------------------------------------------------------

  async #racctEnabled(): Promise<boolean> {
    this.#racct ??= racctEnabled(this.runner);
    return this.#racct;
  }

  /** The rctl rules of `limits` for jail `name`, in the order they are added. */
  static rctlRules(name: string, limits: ResourceLimits): string[] {
    const rules: string[] = [];
    if (limits.memory !== undefined) rules.push(`jail:${name}:memoryuse:deny=${limits.memory}`);
    if (limits.cpus !== undefined) rules.push(`jail:${name}:pcpu:deny=${Math.round(limits.cpus * 100)}`);
    if (limits.pids !== undefined) rules.push(`jail:${name}:maxproc:deny=${limits.pids}`);
    return rules;
  }

  async prepareResources(id: string, scope: string, limits: ResourceLimits): Promise<void> {
    const name = jailOf(scope) ?? id;
    const rules = FreeBSDPlatform.rctlRules(name, limits);
    if (rules.length === 0) return;
    if (!(await this.#racctEnabled())) throw racctDisabled();
    const added: string[] = [];
    try {
      for (const rule of rules) {
        await this.runner.run('rctl', ['-a', rule]);
        added.push(rule);
      }
    } catch (e) {
      if (added.length) await this.runner.run('rctl', ['-r', `jail:${name}`], { check: false });
      throw e;
    }
  }

  async releaseResources(id: string, scope: string): Promise<void> {
    const name = jailOf(scope) ?? id;
    if (!(await this.#racctEnabled())) return;
    const r = await this.runner.run('rctl', [`jail:${name}`], { check: false });
    if (r.code === 0 && r.stdout.toString().trim() !== '')
      await this.runner.run('rctl', ['-r', `jail:${name}`]);
  }

  /** rctl denies allocations rather than killing: there is no OOM kill to report. */
  async exitDetails(_scope: string): Promise<{ oomKilled: boolean }> {
    return { oomKilled: false };
  }

  /** rctl subjects of jails named like container ids that no known container owns and no jail uses. */
  async orphanScopes(_daemonTag: string, known: ReadonlySet<string>): Promise<string[]> {
    if (!(await this.#racctEnabled())) return [];
    const r = await this.runner.run('rctl', [], { check: false });
    if (r.code !== 0) return [];
    const jails = new Set(
      (await this.runner.run('jls', ['-N', 'name'], { check: false })).stdout
        .toString()
        .split('\n')
        .map((l) => l.trim()),
    );
    const out = new Set<string>();
    for (const line of r.stdout.toString().split('\n')) {
      const m = /^jail:([0-9a-f]{64}):/.exec(line);
      if (!m) continue;
      const scope = scopeOf(m[1]!);
      if (!known.has(scope) && !jails.has(m[1]!)) out.add(scope);
    }
    return [...out];
  }

  /**
   * After `runtime create`, before `runtime start`: applies what ocijail cannot express and takes
   * back what it grants unasked (`jail -m`); returns the jail id for the container record.
   */
  async afterCreate(id: string, _scope: string): Promise<{ jid?: number }> {
    if (!this.#info) throw new BrigError('ERR_INTERNAL', 'afterCreate before runtime()');
    const r = await this.runner.run(this.#info.path, ['--root', this.#info.stateRoot, 'state', id]);
    const state = JSON.parse(r.stdout.toString()) as { annotations?: Record<string, string> };
    const ann = state.annotations ?? {};
    const jid = ann['org.freebsd.jail.jid'] !== undefined ? Number(ann['org.freebsd.jail.jid']) : undefined;
    const modify = (ann[MODIFY_ANNOTATION] ?? '').split(' ').filter(Boolean);
    if (modify.length)
      await this.runner.run('jail', ['-m', jid !== undefined ? `jid=${jid}` : `name=${id}`, ...modify]);
    return jid !== undefined ? { jid } : {};
  }

  /**
   * Loads a composed ruleset (its rules: canonical lines or parsed rules, as the allocator's entry
   * holds them) into the kernel as number N, when the allocator made it.
   */
  async loadDevfsRuleset(number: number, ruleset: { rules: readonly RuleInput[] }): Promise<void> {
    const cmds = loadRulesetCommands(number, rulesetOf(ruleset.rules));
    try {
      for (const c of cmds) await this.runner.run(c.cmd, c.args);
    } catch (e) {
      // a half-loaded ruleset would give a container the wrong devices: empty it (destroys it)
      for (const c of deleteRulesetCommands(number)) await this.runner.run(c.cmd, c.args, { check: false });
      throw e;
    }
  }

  async deleteDevfsRuleset(number: number): Promise<void> {
    for (const c of deleteRulesetCommands(number)) await this.runner.run(c.cmd, c.args);
  }

  // ---- mounts ----------------------------------------------------------------------------------

  async mountsBelow(dir: string): Promise<string[]> {
    const base = dir.replace(/\/+$/, '');
    const r = await this.runner.run('mount', ['-p']);
    const out: string[] = [];
    for (const line of r.stdout.toString().split('\n')) {
      const target = mountTarget(line);
      if (target && (target === base || target.startsWith(`${base}/`))) out.push(target);
    }
    // deepest first; among equal depths, the later mount first (it covers the earlier one)
    return out.reverse().sort((a, b) => b.split('/').length - a.split('/').length);
  }

  async unmountBelow(dir: string): Promise<void> {
    for (const m of await this.mountsBelow(dir)) await this.runner.run('umount', [m]);
  }

  // ---- observation -----------------------------------------------------------------------------

  async stats(scope: string): Promise<ContainerStats> {
    const name = jailOf(scope);
    if (!name || !(await this.#racctEnabled()))
      return { cpuNanos: 0, memoryBytes: 0, pids: 0, ioReadBytes: 0, ioWriteBytes: 0 };
    const r = await this.runner.run('rctl', ['-u', `jail:${name}`]);
    const u: Record<string, number> = {};
    for (const line of r.stdout.toString().split('\n')) {
      const m = /^(\w+)=(\d+)$/.exec(line.trim());
      if (m) u[m[1]!] = Number(m[2]);
    }
    const rules = await this.runner.run('rctl', [`jail:${name}:memoryuse`], { check: false });
    const lim = /:memoryuse:deny=(\d+)/.exec(rules.stdout.toString());
    return {
      cpuNanos: (u.cputime ?? 0) * 1e9,
      memoryBytes: u.memoryuse ?? 0,
      ...(lim ? { memoryLimitBytes: Number(lim[1]) } : {}),
      pids: u.maxproc ?? 0,
      // rctl counts I/O as rates (readbps, writebps), not totals
      ioReadBytes: 0,
      ioWriteBytes: 0,
    };
  }

  /** `ps -J NAME`: the processes of the jail. */
  async processes(scope: string): Promise<ProcessRow[]> {
    const name = jailOf(scope);
    if (!name) return [];
    // one -o per keyword: POSIX makes the text after `=` the header up to the end of the argument
    const o = ['pid', 'ppid', 'user', 'cputime', 'command'].flatMap((k) => ['-o', `${k}=`]);
    const r = await this.runner.run('ps', ['-J', name, ...o], { check: false });
    if (r.code !== 0) return [];
    const rows: ProcessRow[] = [];
    for (const line of r.stdout.toString().split('\n')) {
      const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
      if (!m) continue;
      rows.push({ pid: Number(m[1]), ppid: Number(m[2]), user: m[3]!, time: cputime(m[4]!), cmd: m[5]! });
    }
    return rows;
  }

  seqpacketBridge(socketPath: string): { cmd: string; args: string[] } {
    // perl5 is a package on FreeBSD (lang/perl5); the script packs FreeBSD's sockaddr_un itself
    return seqpacketBridgeCommand(socketPath);
  }

  seqpacketBridgeDeferred(): { cmd: string; args: string[] } {
    return seqpacketBridgeCommand('-');
  }
}

/**
 * What a jail made by ocijail holds without being asked (create.cpp, NOTES.md) on top of the
 * kernel's defaults for a new jail (JAIL_DEFAULT_ALLOW: set_hostname, reserved_ports).
 * Parameters not listed here and not carried by an annotation: allow.* false, others unset.
 */
const OCIJAIL_GIVES: Readonly<Record<string, string>> = {
  enforce_statfs: '1',
  'allow.raw_sockets': 'true',
  'allow.chflags': 'true',
  'allow.set_hostname': 'true',
  'allow.reserved_ports': 'true',
  'children.max': '0',
  devfs_ruleset: '0',
};

/** The `org.freebsd.jail.*` annotations ocijail reads, from the jail parameters. */
export function ocijailAnnotations(params: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = { 'org.freebsd.jail.vnet': params.vnet ?? 'inherit' };
  for (const k of ['msg', 'shm', 'sem'] as const)
    if (params[`sysv${k}`]) out[`org.freebsd.jail.sysv${k}`] = params[`sysv${k}`]!;
  for (const [k, v] of Object.entries(params))
    if (k.startsWith('allow.') && v === 'true' && OCIJAIL_ALLOW.has(k.slice(6)))
      out[`org.freebsd.jail.${k}`] = 'true';
  return out;
}

/**
 * The `jail -m` arguments for every parameter (of freebsdJailParams) that ocijail's annotations
 * and defaults leave different: applied by afterCreate before the container's process starts.
 */
export function jailModifications(params: Readonly<Record<string, string>>): string[] {
  const carried = ocijailAnnotations(params);
  const out: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (k === 'vnet' || k.startsWith('sysv')) continue; // annotations
    if (k.startsWith('allow.')) {
      const has = carried[`org.freebsd.jail.${k}`] === 'true' || OCIJAIL_GIVES[k] === 'true';
      if ((v === 'true') === has) continue;
      out.push(v === 'true' ? k : `allow.no${k.slice(6)}`);
    } else if (OCIJAIL_GIVES[k] !== v) out.push(`${k}=${v}`);
  }
  return out;
}

export function scopeOf(id: string): string {
  return `jail:${id}`;
}

function jailOf(scope: string): string | undefined {
  return scope.startsWith('jail:') ? scope.slice(5) : undefined;
}

/** The mount point of a `mount -p` (fstab format) or `mount` (`X on Y (type, ...)`) line. */
function mountTarget(line: string): string | undefined {
  const on = / on (\/.*) \([^()]*\)$/.exec(line);
  if (on) return on[1];
  // fstab format (mount -p): fields separated by blanks, blanks inside a path written as \040
  const f = line.split(/\s+/);
  if (f.length < 3 || !f[1]!.startsWith('/')) return undefined;
  return f[1]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** ps(1) cputime `[dd-][hh:]mm:ss.cc` in seconds. */
function cputime(t: string): number {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$/.exec(t);
  if (!m) return 0;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3]) * 60 + Number(m[4]);
}

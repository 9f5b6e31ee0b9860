/**
 * The Linux platform: runc or crun under conmon, cgroups (v1, hybrid or v2, cgroupfs driver),
 * mount(8) for root filesystems. See ../platform.ts for the contract.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError } from '../../errors/errors.ts';
import { linuxSysvipc } from '../../policy/effects.ts';
import { defaultPaths } from '../defaults.ts';
import { type CommandRunner, hostRunner, which } from '../exec.ts';
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
import {
  cgroupLayout,
  cgroupPids,
  cgroupStats,
  childCgroups,
  oomKilled,
  ownCgroup,
  removeCgroup,
  removeIfEmpty,
  scopeParent,
} from './cgroups.ts';
import { containerSeccomp, hostSeccomp, type SeccompHost, type SeccompSetting } from './seccomp.ts';

/**
 * docker's default capability set, without CAP_NET_RAW: raw sockets are a privilege an image
 * must ask for (`allow.raw_sockets`, granted by the host policy; src/privileges adds the cap).
 */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** docker's masked and read-only /proc and /sys paths. */
export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function linuxDefaultMounts(_readOnlyRoot: boolean): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
  ];
}

/** Device nodes every container may use (runc creates them; we allow them in the device cgroup). */
const DEFAULT_DEVICE_RULES = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
];

const CPU_PERIOD = 100_000;

/** What decides a container's seccomp filter besides its grant (see ./seccomp.ts). */
export interface SeccompOptions {
  /** `runtime.seccomp` of the daemon's configuration. */
  readonly setting: SeccompSetting;
  readonly host: SeccompHost;
}

/**
 * The `linux` section of config.json. Pure but for the default of `seccomp` (this host, the
 * default profile).
 */
export function linuxSection(
  input: BundleInput,
  cgroupsPath: string,
  seccompOpts: SeccompOptions = { setting: 'default', host: hostSeccomp() },
): Record<string, unknown> {
  // SysV IPC exactly as linuxEffects says (one function decides both)
  const ipc = linuxSysvipc(input.grant.sysvipc ?? {});
  // one filter: the profile, relaxed only by the capabilities granted privileges add, and the
  // disabled SysV IPC classes
  const seccomp = containerSeccomp({
    setting: seccompOpts.setting,
    capabilities: linuxCapabilities(input.grant),
    ipcDenied: ipc.deniedSyscalls,
    host: seccompOpts.host,
  });
  const namespaces = [
    { type: 'pid' },
    ...(ipc.ipcNamespace === 'host' ? [] : [{ type: 'ipc' }]),
    { type: 'uts' },
    { type: 'mount' },
    // vnet: the container's own network stack (the runtime brings up lo, nothing else), as a
    // fresh VNET jail; otherwise the host's network (no netns entry), and no CAP_NET_ADMIN
    ...(input.grant.vnet ? [{ type: 'network' }] : []),
    { type: 'cgroup' },
  ];
  const resources: Record<string, unknown> = {
    devices: [
      ...DEFAULT_DEVICE_RULES,
      ...(input.grant.devices ?? []).map((d) => ({
        allow: true,
        type: d.type,
        major: d.major,
        minor: d.minor,
        access: 'rwm',
      })),
    ],
  };
  const l: ResourceLimits = input.limits;
  if (l.memory !== undefined) resources.memory = { limit: l.memory, swap: l.memory };
  if (l.cpus !== undefined) resources.cpu = { quota: Math.round(l.cpus * CPU_PERIOD), period: CPU_PERIOD };
  if (l.pids !== undefined) resources.pids = { limit: l.pids };
  return {
    namespaces,
    cgroupsPath,
    resources,
    ...(input.grant.devices?.length
      ? {
          devices: input.grant.devices.map((d) => ({
            path: d.path,
            type: d.type,
            major: d.major,
            minor: d.minor,
            fileMode: d.fileMode ?? 0o666,
            uid: 0,
            gid: 0,
          })),
        }
      : {}),
    maskedPaths: MASKED_PATHS,
    readonlyPaths: READONLY_PATHS,
    ...(seccomp ? { seccomp } : {}),
  };
}

/**
 * The process capabilities: docker's defaults plus the grant's. CAP_NET_ADMIN only with vnet,
 * where it acts on the container's own network namespace: without one it would be CAP_NET_ADMIN
 * on the host's network stack.
 */
export function linuxCapabilities(grant: BundleInput['grant']): string[] {
  const caps = new Set([...DEFAULT_CAPABILITIES, ...(grant.capabilities ?? [])]);
  if (!grant.vnet) caps.delete('CAP_NET_ADMIN');
  return [...caps];
}

const LIMIT_NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** Parses /proc/PID/limits into type -> hard limit (Infinity = unlimited). */
export function parseHardLimits(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n').slice(1)) {
    const cols = line.split(/ {2,}/);
    const type = LIMIT_NAMES[cols[0]?.trim() ?? ''];
    if (!type || cols.length < 3) continue;
    const hard = cols[2]!.trim();
    m.set(type, hard === 'unlimited' ? Number.POSITIVE_INFINITY : Number(hard));
  }
  return m;
}

/** Clamps each rlimit to the host hard limit (pure). */
export function clampRlimitsTo(wanted: readonly Rlimit[], hard: Map<string, number>): Rlimit[] {
  return wanted.map((r) => {
    const h = hard.get(r.type) ?? Number.POSITIVE_INFINITY;
    const hardV = Math.min(r.hard, h);
    return { type: r.type, hard: hardV, soft: Math.min(r.soft, hardV) };
  });
}

interface ProbeCache {
  key: string;
  result: Omit<RuntimeInfo, 'stateRoot'>;
}

async function versionOf(path: string, runner: CommandRunner): Promise<string> {
  const r = await runner.run(path, ['--version'], { check: false });
  const first = `${r.stdout.toString()}${r.stderr.toString()}`.split('\n')[0] ?? '';
  return /(\d+\.\d+(\.\d+)?\S*)/.exec(first)?.[1] ?? first.trim();
}

/**
 * A throw-away bundle whose root mirrors the host's /usr (bind, read-only): enough to exec
 * /usr/bin/true in fresh namespaces with a cgroup under brigd's own, as a container would.
 */
async function probeRuntime(path: string, dir: string, runner: CommandRunner): Promise<string | undefined> {
  await rm(dir, { recursive: true, force: true });
  const rootfs = join(dir, 'rootfs');
  await mkdir(rootfs, { recursive: true });
  const mounts: OciMount[] = [{ destination: '/proc', type: 'proc', source: 'proc' }];
  for (const name of ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64']) {
    try {
      const st = await lstat(`/${name}`);
      if (st.isSymbolicLink()) await symlink(await readlink(`/${name}`), join(rootfs, name));
      else if (st.isDirectory()) {
        await mkdir(join(rootfs, name));
        mounts.push({ destination: `/${name}`, type: 'bind', source: `/${name}`, options: ['rbind', 'ro'] });
      }
    } catch {}
  }
  await mkdir(join(rootfs, 'proc'));
  const unique = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const id = `brig-probe-${unique}`;
  // a parent of its own: probes of other daemons (or of another runtime) remove theirs when done,
  // and a shared parent could vanish under a runc that is creating its child in it
  const probeParent = scopeParent(await ownCgroup(), `probe-${unique}`);
  const cgroupsPath = `${probeParent}/${id}`;
  const spec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/usr/bin/true'],
      env: ['PATH=/usr/bin:/bin'],
      cwd: '/',
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'probe',
    mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }],
      cgroupsPath,
      resources: { pids: { limit: 16 } },
    },
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(spec));
  const state = join(dir, 'state');
  try {
    const r = await runner.run(path, ['--root', state, 'run', '--bundle', dir, id], { check: false });
    if (r.code !== 0) {
      return (r.stderr.toString().trim() || r.stdout.toString().trim() || `exit status ${r.code}`)
        .split('\n')
        .slice(-1)[0];
    }
    return undefined;
  } finally {
    await runner.run(path, ['--root', state, 'delete', '--force', id], { check: false }).catch(() => {});
    await removeCgroup(cgroupsPath).catch(() => {});
    await removeIfEmpty(probeParent);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The daemon's parent cgroup (brig-TAG) is removed when its last container is released; but a
 * runtime creating another container's cgroup at that moment makes the parent first, then the
 * container's cgroup in it, and fails if the parent vanished in between (runc: "mkdir …: no such
 * file or directory"). So every scope from prepareResources to releaseResources is held under
 * its parent (per process: every LinuxPlatform of it), a release removes the parent only when
 * none is held, and a prepare waits for a removal already under way.
 */
const heldScopes = new Map<string, { scopes: Set<string>; removing?: Promise<void> }>();

export class LinuxPlatform implements Platform {
  readonly name = 'linux';
  readonly os = 'linux' as const;
  readonly runner: CommandRunner;
  private hardLimits: Map<string, number> | undefined;
  private probed = new Map<string, Promise<RuntimeInfo>>();
  private readonly seccomp: SeccompOptions;

  /** `seccomp`: the daemon's `runtime.seccomp` (default: brig's default profile). */
  constructor(opts: { runner?: CommandRunner; seccomp?: SeccompSetting } = {}) {
    this.runner = opts.runner ?? hostRunner;
    this.seccomp = { setting: opts.seccomp ?? 'default', host: hostSeccomp() };
  }

  /** The daemon's `runtime.seccomp`, a profile file already read. */
  get seccompSetting(): SeccompSetting {
    return this.seccomp.setting;
  }

  defaults() {
    return defaultPaths('linux');
  }

  runtime(opts: { want: string; path?: string; conmon?: string; workDir: string }): Promise<RuntimeInfo> {
    const k = JSON.stringify(opts);
    let p = this.probed.get(k);
    if (!p) {
      p = this.findRuntime(opts);
      this.probed.set(k, p);
      p.catch(() => this.probed.delete(k));
    }
    return p;
  }

  private async findRuntime(opts: {
    want: string;
    path?: string;
    conmon?: string;
    workDir: string;
  }): Promise<RuntimeInfo> {
    const conmonPath = opts.conmon ?? (await which('conmon'));
    if (!conmonPath) {
      throw new BrigError('ERR_RUNTIME_UNAVAILABLE', 'conmon is not installed', {
        hint: 'Install conmon (scripts/setup).',
      });
    }
    const conmon = { path: conmonPath, version: await versionOf(conmonPath, this.runner) };
    const candidates = opts.want === 'auto' ? ['crun', 'runc'] : [opts.want];
    if (!['auto', 'runc', 'crun'].includes(opts.want)) {
      throw new BrigError(
        'ERR_RUNTIME_UNAVAILABLE',
        `runtime ${opts.want} does not run on Linux; use runc or crun`,
      );
    }
    const rejected: RuntimeInfo['rejected'] = [];
    await mkdir(opts.workDir, { recursive: true });
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
    const cacheFile = join(opts.workDir, 'runtime-probe.json');
    for (const name of candidates) {
      const path = opts.want !== 'auto' && opts.path ? opts.path : await which(name);
      if (!path) {
        rejected.push({ name, reason: 'not installed' });
        continue;
      }
      const version = await versionOf(path, this.runner);
      const st = await stat(path);
      const key = createHash('sha256')
        .update(JSON.stringify([path, version, st.size, st.mtimeMs, bootId, conmon.path]))
        .digest('hex');
      const stateRoot = join(opts.workDir, name);
      try {
        const cached = JSON.parse(await readFile(cacheFile, 'utf8')) as ProbeCache[];
        const hit = cached.find((c) => c.key === key);
        if (hit) {
          if (hit.result.name === name) return { ...hit.result, stateRoot, rejected };
        }
      } catch {}
      const why = await probeRuntime(path, join(opts.workDir, `probe-${name}`), this.runner);
      if (why) {
        rejected.push({ name, reason: why });
        continue;
      }
      const result = { name, path, version, conmon, rejected };
      const entries: ProbeCache[] = [{ key, result }];
      await writeFile(cacheFile, JSON.stringify(entries));
      return { ...result, stateRoot };
    }
    throw new BrigError(
      'ERR_RUNTIME_UNAVAILABLE',
      `no working OCI runtime: ${rejected.map((r) => `${r.name}: ${r.reason}`).join('; ')}`,
      { details: { rejected } },
    );
  }

  async clampRlimits(wanted: readonly Rlimit[]): Promise<Rlimit[]> {
    this.hardLimits ??= parseHardLimits(await readFile('/proc/self/limits', 'utf8'));
    return clampRlimitsTo(wanted, this.hardLimits);
  }

  async bundleSection(input: BundleInput): Promise<BundleSection> {
    const scope = `${scopeParent(await ownCgroup(), input.daemonTag)}/${input.id}`;
    return {
      defaultMounts: linuxDefaultMounts(input.readOnlyRoot),
      capabilities: linuxCapabilities(input.grant),
      section: { key: 'linux', value: linuxSection(input, scope, this.seccomp) },
      annotations: {},
      scope,
    };
  }

  async prepareResources(_id: string, scope: string, _limits: ResourceLimits): Promise<void> {
    // runc creates the cgroup from linux.cgroupsPath and linux.resources; the scope is counted
    // so that no release removes its parent meanwhile (see heldScopes)
    const parent = scope.slice(0, scope.lastIndexOf('/'));
    let held = heldScopes.get(parent);
    if (!held) heldScopes.set(parent, (held = { scopes: new Set() }));
    held.scopes.add(scope);
    await held.removing;
  }

  async releaseResources(_id: string, scope: string): Promise<void> {
    await removeCgroup(scope);
    const parent = scope.slice(0, scope.lastIndexOf('/'));
    let held = heldScopes.get(parent);
    if (!held) heldScopes.set(parent, (held = { scopes: new Set() }));
    held.scopes.delete(scope);
    const entry = held;
    // removed only if no scope was prepared meanwhile (checked when the removal begins)
    const removal = (entry.removing ?? Promise.resolve()).then(() =>
      entry.scopes.size === 0 ? removeIfEmpty(parent) : undefined,
    );
    entry.removing = removal;
    await removal;
    if (entry.removing === removal && entry.scopes.size === 0) heldScopes.delete(parent);
  }

  exitDetails(scope: string): Promise<{ oomKilled: boolean }> {
    return oomKilled(scope).then((oomKilled) => ({ oomKilled }));
  }

  async orphanScopes(daemonTag: string, known: ReadonlySet<string>): Promise<string[]> {
    const parent = scopeParent(await ownCgroup(), daemonTag);
    return (await childCgroups(parent)).map((n) => `${parent}/${n}`).filter((s) => !known.has(s));
  }

  alive(pid: number): boolean {
    if (!(pid > 0)) return false;
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  }

  async mountsBelow(dir: string): Promise<string[]> {
    // synchronous: a /proc file (no disk), read twice per release
    let text = '';
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {}
    const unesc = (s: string) =>
      s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    const out: string[] = [];
    for (const line of text.split('\n')) {
      const mp = line.split(' ')[4];
      if (!mp) continue;
      const p = unesc(mp);
      if (p === dir || p.startsWith(`${dir}/`)) out.push(p);
    }
    return out.sort((a, b) => b.length - a.length);
  }

  async unmountBelow(dir: string): Promise<void> {
    for (let i = 0; i < 8; i++) {
      const mps = await this.mountsBelow(dir);
      if (!mps.length) return;
      for (const mp of mps) await this.runner.run('umount', [mp], { check: false });
    }
    for (const mp of await this.mountsBelow(dir))
      await this.runner.run('umount', ['-l', mp], { check: false });
  }

  async stats(scope: string): Promise<ContainerStats> {
    return cgroupStats(scope);
  }

  async processes(scope: string): Promise<ProcessRow[]> {
    const rows: ProcessRow[] = [];
    const tick = 100; // USER_HZ on every Linux brig supports
    const users = new Map<number, string>();
    for (const line of (await readFile('/etc/passwd', 'utf8').catch(() => '')).split('\n')) {
      const f = line.split(':');
      if (f.length > 2) users.set(Number(f[2]), f[0]!);
    }
    for (const pid of (await cgroupPids(scope)).sort((a, b) => a - b)) {
      try {
        const st = await readFile(`/proc/${pid}/stat`, 'utf8');
        const after = st.slice(st.lastIndexOf(')') + 2).split(' ');
        const status = await readFile(`/proc/${pid}/status`, 'utf8');
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8'))
          .split('\0')
          .filter(Boolean)
          .join(' ');
        rows.push({
          pid,
          ppid: Number(after[1]),
          user: users.get(uid) ?? String(uid),
          time: (Number(after[11]) + Number(after[12])) / tick,
          cmd: cmdline || st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')),
        });
      } catch {}
    }
    return rows;
  }

  seqpacketBridge(socketPath: string): { cmd: string; args: string[] } {
    return seqpacketBridgeCommand(socketPath);
  }

  seqpacketBridgeDeferred(): { cmd: string; args: string[] } {
    return seqpacketBridgeCommand('-');
  }

  /** cgroup mode, for `brig system info`. */
  async cgroupMode(): Promise<string> {
    return (await cgroupLayout()).mode;
  }
}

/**
 * Seccomp for Linux containers: brig's default profile, written as a deny list, and the one
 * function that gives a container its `linux.seccomp` (runtime-spec LinuxSeccomp).
 *
 * Contract:
 *   - The default profile allows every syscall except those of DEFAULT_RULES, which fail with the
 *     rule's errno: EPERM, or ENOSYS where a C library falls back to an older call on ENOSYS
 *     (clone3 -> clone, io_uring -> plain reads and writes). The table in docs/privileges.md is
 *     the prose version of DEFAULT_RULES, one line per rule.
 *   - A rule with `unlessCapability` is left out when the container's capability set holds that
 *     capability. Capabilities come only from privileges the host policy granted (src/policy
 *     effects.ts), so an image never relaxes the profile by asking.
 *   - containerSeccomp() composes, for one container:
 *       'default'     the default profile (relaxed by capabilities) + the SysV IPC rules
 *       'unconfined'  the SysV IPC rules alone (no filter when no class is disabled)
 *       a profile     the operator's LinuxSeccomp as given + the SysV IPC rules (its entries for
 *                     those syscalls are dropped first, so the two never conflict)
 *     The SysV IPC rules (classes granted `disable`) fail with ENOSYS, as a FreeBSD jail does.
 *   - The operator chooses with `runtime.seccomp` (docs/configuration.md); loadSeccompSetting()
 *     reads and validates a profile file once, at daemon start.
 *
 * Architectures: the filter names every ABI the host kernel runs, so the same rules apply to a
 * 32-bit process (x86_64 also runs i386 and x32 code; aarch64 runs 32-bit ARM code). A syscall
 * that does not exist on one of them is skipped there by libseccomp.
 *
 * Arguments: only register arguments can be inspected. clone and unshare take their flags in the
 * first argument on every architecture listed here, so their namespace flags are filtered by
 * value; clone3 passes them in memory, so it fails with ENOSYS and glibc (2.34+) falls back to
 * clone. Several entries for one syscall are alternatives (any match applies); the comparisons
 * of one entry must all hold, one comparison per argument (see PERSONALITY_REFUSED).
 */
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import * as v from 'valibot';
import { BrigError } from '../../errors/errors.ts';

export const EPERM = 1;
/** ENOSYS on every architecture brig runs on (x86, ARM). */
export const ENOSYS = 38;

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface LinuxSeccompArg {
  index: number;
  /** With SCMP_CMP_MASKED_EQ: the mask. */
  value: number;
  /** With SCMP_CMP_MASKED_EQ: what the masked argument must equal. */
  valueTwo?: number;
  op: SeccompOperator;
}

export interface LinuxSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

/** runtime-spec `linux.seccomp`. */
export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

/** One line of the default profile. */
export interface DenyRule {
  readonly names: readonly string[];
  readonly errno: 'EPERM' | 'ENOSYS';
  /** Why it is denied (the table in docs/privileges.md says the same). */
  readonly why: string;
  /** Allowed when the container's capability set holds this (granted by the host policy). */
  readonly unlessCapability?: string;
  /** Denied only on kernels older than this version. */
  readonly beforeKernel?: readonly [number, number];
  /**
   * Denied only for these values of the first argument: each `{mask, value}` is one
   * alternative, matching when `(arg0 & mask) === value`.
   */
  readonly whenArg0?: readonly { readonly mask: number; readonly value: number }[];
}

/** The namespace flags of clone(2) and unshare(2) (linux/sched.h). */
export const CLONE_NEW = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
  CLONE_NEWTIME: 0x00000080,
} as const;

/** personality(2) flags (linux/personality.h) that weaken a process's own protections. */
export const UNSAFE_PERSONALITY = {
  ADDR_NO_RANDOMIZE: 0x0040000,
  MMAP_PAGE_ZERO: 0x0100000,
  ADDR_COMPAT_LAYOUT: 0x0200000,
  READ_IMPLIES_EXEC: 0x0400000,
} as const;

const anyFlag = (flags: readonly number[]) => flags.map((f) => ({ mask: f, value: f }));

/**
 * personality(2) takes an unsigned int; 0xffffffff only queries. A value is refused when it sets
 * an unsafe flag with bit 31 clear, or sets bit 31 without being the query (no personality uses
 * bit 31; such a value would carry unsafe flags past the first test): 4 + 31 alternatives,
 * because an entry cannot compare one argument twice (tried with runc 1.1 and libseccomp 2.5.4:
 * a second comparison of argument 0 did not narrow the first, and the query was refused).
 */
const BIT31 = 0x80000000;
const PERSONALITY_REFUSED = [
  ...Object.values(UNSAFE_PERSONALITY).map((f) => ({ mask: f + BIT31, value: f })),
  ...Array.from({ length: 31 }, (_, b) => ({ mask: BIT31 + 2 ** b, value: BIT31 })),
];

/** brig's default profile: everything not named here is allowed. */
export const DEFAULT_RULES: readonly DenyRule[] = [
  {
    names: ['kexec_load', 'kexec_file_load'],
    errno: 'EPERM',
    why: 'loads a new kernel to boot into',
  },
  {
    names: ['init_module', 'finit_module', 'delete_module'],
    errno: 'EPERM',
    why: 'loads or unloads kernel modules: code in the host kernel',
  },
  {
    names: ['bpf'],
    errno: 'EPERM',
    why: 'eBPF programs run in the host kernel; a large, often exploited attack surface',
  },
  {
    names: ['perf_event_open'],
    errno: 'EPERM',
    why: 'performance monitoring observes the host and has a long record of kernel bugs',
  },
  {
    names: ['userfaultfd'],
    errno: 'EPERM',
    why: 'lets a process stall the kernel on a page fault, the usual tool to win kernel races',
  },
  {
    names: ['keyctl', 'add_key', 'request_key'],
    errno: 'EPERM',
    why: 'the kernel keyring is not namespaced: keys are shared with the host',
  },
  {
    names: ['acct'],
    errno: 'EPERM',
    why: 'process accounting is host-wide',
  },
  {
    names: ['swapon', 'swapoff'],
    errno: 'EPERM',
    why: 'swap is host-wide',
  },
  {
    names: ['reboot'],
    errno: 'EPERM',
    why: 'reboots the host (in a pid namespace it ends the container)',
  },
  {
    names: [
      'settimeofday',
      'stime',
      'clock_settime',
      'clock_settime64',
      'adjtimex',
      'clock_adjtime',
      'clock_adjtime64',
    ],
    errno: 'EPERM',
    why: 'the system clock is the host’s (allow.settime, allow.adjtime grant CAP_SYS_TIME and these)',
    unlessCapability: 'CAP_SYS_TIME',
  },
  {
    names: ['open_by_handle_at'],
    errno: 'EPERM',
    why: 'opens any file of a mounted filesystem by its handle, outside the container’s mount tree (the “shocker” escape)',
  },
  {
    names: ['name_to_handle_at'],
    errno: 'EPERM',
    why: 'makes the file handles open_by_handle_at takes',
  },
  {
    names: ['lookup_dcookie'],
    errno: 'EPERM',
    why: 'profiling interface (oprofile) that returns host paths',
  },
  {
    names: ['quotactl', 'quotactl_fd'],
    errno: 'EPERM',
    why: 'quotas of host filesystems (allow.quotas is not given on Linux)',
  },
  {
    names: ['nfsservctl'],
    errno: 'EPERM',
    why: 'the kernel NFS server’s control call (removed in Linux 3.1)',
  },
  {
    names: ['uselib'],
    errno: 'EPERM',
    why: 'obsolete a.out library loader',
  },
  {
    names: ['iopl', 'ioperm'],
    errno: 'EPERM',
    why: 'direct access to the host’s I/O ports',
  },
  {
    names: ['vm86', 'vm86old'],
    errno: 'EPERM',
    why: 'i386 virtual 8086 mode: obsolete, with a record of kernel bugs',
  },
  {
    names: ['kcmp'],
    errno: 'EPERM',
    why: 'compares the kernel objects of two processes; only checkpoint/restore tools use it',
  },
  {
    names: ['move_pages', 'migrate_pages'],
    errno: 'EPERM',
    why: 'moves pages of processes between NUMA nodes: host memory placement',
    unlessCapability: 'CAP_SYS_NICE',
  },
  {
    names: ['syslog'],
    errno: 'EPERM',
    why: 'the host kernel’s message buffer (allow.read_msgbuf grants CAP_SYSLOG and this)',
    unlessCapability: 'CAP_SYSLOG',
  },
  {
    names: [
      'mount',
      'umount',
      'umount2',
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'move_mount',
      'open_tree',
      'mount_setattr',
    ],
    errno: 'EPERM',
    why: 'mounting (allow.mount and allow.mount.* grant CAP_SYS_ADMIN and these, in the container’s own mount namespace)',
    unlessCapability: 'CAP_SYS_ADMIN',
  },
  {
    names: ['pivot_root'],
    errno: 'EPERM',
    why: 'changes the root mount: only for building containers, and brig runs none inside containers',
  },
  {
    names: ['setns'],
    errno: 'EPERM',
    why: 'joins another namespace: no containers inside containers (children.max is refused on Linux)',
  },
  {
    names: ['unshare'],
    errno: 'EPERM',
    why: 'with a CLONE_NEW* flag: new namespaces, above all user namespaces, which open kernel code to unprivileged users (other flags are allowed)',
    whenArg0: anyFlag(Object.values(CLONE_NEW)),
  },
  {
    names: ['clone'],
    errno: 'EPERM',
    why: 'with a CLONE_NEW* flag, as unshare (threads and fork are allowed); CLONE_NEWTIME is not a clone flag',
    whenArg0: anyFlag(Object.values(CLONE_NEW).filter((f) => f !== CLONE_NEW.CLONE_NEWTIME)),
  },
  {
    names: ['clone3'],
    errno: 'ENOSYS',
    why: 'its flags are in memory, out of seccomp’s sight; on ENOSYS glibc falls back to clone',
  },
  {
    names: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'],
    errno: 'ENOSYS',
    why: 'io_uring bypasses syscall filtering and has had many kernel bugs; on ENOSYS libraries (libuv, liburing users) use plain syscalls',
  },
  {
    names: ['personality'],
    errno: 'EPERM',
    why: 'with ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO or ADDR_COMPAT_LAYOUT (weakening ASLR and W^X), or bit 31 unless querying; PER_LINUX32 and the query are allowed',
    whenArg0: PERSONALITY_REFUSED,
  },
  {
    names: ['ptrace'],
    errno: 'EPERM',
    why: 'before Linux 4.8 a tracer could change a syscall after seccomp checked it',
    beforeKernel: [4, 8],
  },
];

/** What the default profile depends on besides the container. */
export interface SeccompHost {
  /** Node's `process.arch` of the daemon (the host's architecture). */
  readonly arch: string;
  /** The running kernel's version [major, minor]. */
  readonly kernel: readonly [number, number];
}

/** The seccomp architectures of a host: its own and the 32-bit ABIs its kernel runs. */
export function seccompArchitectures(arch: string): string[] | undefined {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'ia32':
      return ['SCMP_ARCH_X86'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    default:
      // the runtime's native architecture alone
      return undefined;
  }
}

/** "6.1.0-18-amd64" -> [6, 1]. */
export function parseKernelVersion(text: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function hostSeccomp(): SeccompHost {
  return { arch: process.arch, kernel: parseKernelVersion(release()) };
}

const before = (k: readonly [number, number], v: readonly [number, number]) =>
  k[0] < v[0] || (k[0] === v[0] && k[1] < v[1]);

/** The rules of the default profile that apply to this container on this host. */
export function activeRules(capabilities: readonly string[], host: SeccompHost): DenyRule[] {
  return DEFAULT_RULES.filter(
    (r) =>
      !(r.unlessCapability && capabilities.includes(r.unlessCapability)) &&
      !(r.beforeKernel && !before(host.kernel, r.beforeKernel)),
  );
}

function entries(rule: Pick<DenyRule, 'names' | 'errno' | 'whenArg0'>): LinuxSyscall[] {
  const base = {
    names: [...rule.names],
    action: 'SCMP_ACT_ERRNO' as const,
    errnoRet: rule.errno === 'ENOSYS' ? ENOSYS : EPERM,
  };
  if (!rule.whenArg0) return [base];
  return rule.whenArg0.map((c) => ({
    ...base,
    names: [...base.names],
    args: [{ index: 0, value: c.mask, valueTwo: c.value, op: 'SCMP_CMP_MASKED_EQ' as const }],
  }));
}

/**
 * brig's default profile for a container with these capabilities (its final capability set,
 * which only granted privileges extend).
 */
export function defaultSeccompProfile(capabilities: readonly string[], host: SeccompHost): LinuxSeccomp {
  const architectures = seccompArchitectures(host.arch);
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    ...(architectures ? { architectures } : {}),
    syscalls: activeRules(capabilities, host).flatMap(entries),
  };
}

/** The ipc(2) multiplexer's call numbers (linux/ipc.h), for the i386 entry to SysV IPC. */
const IPC_CALL: Readonly<Record<string, number>> = {
  semop: 1,
  semget: 2,
  semctl: 3,
  semtimedop: 4,
  msgsnd: 11,
  msgrcv: 12,
  msgget: 13,
  msgctl: 14,
  shmat: 21,
  shmdt: 22,
  shmget: 23,
  shmctl: 24,
};

/**
 * The entries that fail the disabled SysV IPC classes' syscalls with ENOSYS: by name, and through
 * the i386 ipc(2) multiplexer by call number (its low 16 bits; libseccomp 2.5 adds the latter by
 * itself, older versions do not).
 */
export function sysvipcEntries(denied: readonly string[]): LinuxSyscall[] {
  if (denied.length === 0) return [];
  const calls = denied.map((n) => IPC_CALL[n]).filter((c): c is number => c !== undefined);
  return [
    { names: [...denied], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ...entries({ names: ['ipc'], errno: 'ENOSYS', whenArg0: calls.map((c) => ({ mask: 0xffff, value: c })) }),
  ];
}

/** What the operator chose (`runtime.seccomp`), a profile file already read and validated. */
export type SeccompSetting =
  | 'default'
  | 'unconfined'
  | { readonly path: string; readonly profile: LinuxSeccomp };

/**
 * The `linux.seccomp` of one container, or undefined for none. `capabilities` is the process's
 * final capability set; `ipcDenied` the syscalls of SysV IPC classes granted `disable`.
 */
export function containerSeccomp(opts: {
  setting: SeccompSetting;
  capabilities: readonly string[];
  ipcDenied: readonly string[];
  host: SeccompHost;
}): LinuxSeccomp | undefined {
  const ipc = sysvipcEntries(opts.ipcDenied);
  if (opts.setting === 'unconfined') {
    if (ipc.length === 0) return undefined;
    const architectures = seccompArchitectures(opts.host.arch);
    return { defaultAction: 'SCMP_ACT_ALLOW', ...(architectures ? { architectures } : {}), syscalls: ipc };
  }
  if (opts.setting === 'default') {
    const p = defaultSeccompProfile(opts.capabilities, opts.host);
    return { ...p, syscalls: [...(p.syscalls ?? []), ...ipc] };
  }
  const own = opts.setting.profile;
  const taken = new Set(ipc.flatMap((e) => e.names));
  const kept = (own.syscalls ?? [])
    .map((e) => ({ ...e, names: e.names.filter((n) => !taken.has(n)) }))
    .filter((e) => e.names.length > 0);
  return { ...own, syscalls: [...kept, ...ipc] };
}

const actionSchema = v.picklist([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);
const u64 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const u32 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff));

/** runtime-spec LinuxSeccomp (config-linux.md), strictly: an unknown key is a mistake. */
export const seccompProfileSchema = v.strictObject({
  defaultAction: actionSchema,
  defaultErrnoRet: v.optional(u32),
  architectures: v.optional(v.array(v.pipe(v.string(), v.regex(/^SCMP_ARCH_[A-Z0-9_]+$/)))),
  flags: v.optional(v.array(v.pipe(v.string(), v.regex(/^SECCOMP_FILTER_FLAG_[A-Z_]+$/)))),
  listenerPath: v.optional(v.string()),
  listenerMetadata: v.optional(v.string()),
  syscalls: v.optional(
    v.array(
      v.strictObject({
        names: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[a-z_][a-z0-9_]*$/))), v.minLength(1)),
        action: actionSchema,
        errnoRet: v.optional(u32),
        args: v.optional(
          v.array(
            v.strictObject({
              index: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(5)),
              value: u64,
              valueTwo: v.optional(u64),
              op: v.picklist([
                'SCMP_CMP_NE',
                'SCMP_CMP_LT',
                'SCMP_CMP_LE',
                'SCMP_CMP_EQ',
                'SCMP_CMP_GE',
                'SCMP_CMP_GT',
                'SCMP_CMP_MASKED_EQ',
              ]),
            }),
          ),
        ),
      }),
    ),
  ),
});

/** Validates a parsed profile (ERR_CONFIG_INVALID naming the first wrong key). */
export function parseSeccompProfile(value: unknown, source: string): LinuxSeccomp {
  const r = v.safeParse(seccompProfileSchema, value);
  if (r.success) return r.output;
  const i = r.issues[0]!;
  const key = i.path?.map((p) => String(p.key)).join('.') ?? '(top level)';
  throw new BrigError(
    'ERR_CONFIG_INVALID',
    `${source}: not a runtime-spec LinuxSeccomp: key \`${key}\`: expected ${i.expected ?? i.message}, found ${i.received ?? 'nothing'}`,
    { details: { key: `runtime.seccomp:${key}`, issues: r.issues.map((x) => x.message) } },
  );
}

/** `runtime.seccomp` as the daemon uses it: a profile path is read and validated now. */
export async function loadSeccompSetting(value: string): Promise<SeccompSetting> {
  if (value === 'default' || value === 'unconfined') return value;
  let text: string;
  try {
    text = await readFile(value, 'utf8');
  } catch (e) {
    throw new BrigError(
      'ERR_CONFIG_UNREADABLE',
      `runtime.seccomp: cannot read ${value}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BrigError(
      'ERR_CONFIG_UNREADABLE',
      `runtime.seccomp: ${value} is not JSON: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return { path: value, profile: parseSeccompProfile(json, value) };
}

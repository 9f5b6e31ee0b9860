/**
 * What a Grant becomes on each platform (pure). The runtimes apply these; docs/privileges.md is
 * the prose version of the same tables.
 *
 *   freebsdJailParams(grant)  -> jail(8) parameters (name -> value) for the container's jail
 *   linuxEffects(grant)       -> capabilities to add, the IPC namespace, syscalls to deny
 *                                (the Linux platform's seccomp filter fails them with ENOSYS:
 *                                ../platform/linux/seccomp.ts),
 *                                warnings (granted but without effect on Linux) and
 *                                unsupported items (the Linux runtime must refuse to start with
 *                                ERR_UNSUPPORTED_PLATFORM naming them: assertLinuxSupported)
 * Devices are not here: the composed devfs ruleset is evaluated against the host's inventory by
 * ../devfs evaluate().
 */
import { BrigError } from '../errors/errors.ts';
import type { Grant } from './policy.ts';
import { ALLOW_NAMES, type AllowName, SYSVIPC_CLASSES, type SysvipcClass } from './privileges.ts';

interface LinuxAllow {
  /** Capabilities the privilege adds. */
  readonly caps?: readonly string[];
  /** Granted but without effect on Linux: the runtime logs it and goes on. */
  readonly warning?: string;
  /** Cannot be provided on Linux: the runtime refuses to start. */
  readonly unsupported?: string;
  /** Already true of every Linux container: nothing to do, nothing to say. */
  readonly note?: string;
}

const SYS_ADMIN_MOUNT: LinuxAllow = {
  caps: ['CAP_SYS_ADMIN'],
  note: 'mount(2) in the container’s own mount namespace needs CAP_SYS_ADMIN',
};

/** The Linux meaning of every allow.* parameter. */
export const LINUX_ALLOW: Readonly<Record<AllowName, LinuxAllow>> = {
  set_hostname: {
    warning:
      'allow.set_hostname has no effect on Linux: sethostname(2) needs CAP_SYS_ADMIN, which brig does not give for it',
  },
  raw_sockets: { caps: ['CAP_NET_RAW'] },
  chflags: { caps: ['CAP_LINUX_IMMUTABLE'] },
  mount: SYS_ADMIN_MOUNT,
  'mount.devfs': { unsupported: 'Linux has no devfs; a container’s devices come from its devfs rules' },
  quotas: {
    warning:
      'allow.quotas has no effect on Linux: quotactl(2) on host filesystems is not given to containers',
  },
  read_msgbuf: { caps: ['CAP_SYSLOG'] },
  socket_af: { note: 'Linux containers are not restricted to IPv4, IPv6, local and route sockets' },
  mlock: { caps: ['CAP_IPC_LOCK'] },
  nfsd: { unsupported: 'the Linux NFS server lives in the host kernel and cannot be run from a container' },
  reserved_ports: { caps: ['CAP_NET_BIND_SERVICE'] },
  unprivileged_parent_tampering: {
    warning:
      'allow.unprivileged_parent_tampering has no effect on Linux: the host’s ptrace rules (Yama) apply',
  },
  unprivileged_proc_debug: { note: 'processes may ptrace their own children in brig’s Linux containers' },
  suser: { note: 'the container’s root is root within its capability set' },
  extattr: {
    warning:
      'allow.extattr has no effect on Linux: trusted.* extended attributes need CAP_SYS_ADMIN, not given for it',
  },
  adjtime: { caps: ['CAP_SYS_TIME'] },
  settime: { caps: ['CAP_SYS_TIME'] },
  routing: {
    unsupported:
      'a Linux container without vnet uses the host’s network stack, whose routing table brig never lets it change (with vnet it changes its own)',
  },
  setaudit: { caps: ['CAP_AUDIT_CONTROL'] },
  'mount.fdescfs': { note: '/dev/fd is a link to /proc/self/fd in every Linux container' },
  'mount.fusefs': {
    caps: ['CAP_SYS_ADMIN'],
    note: 'FUSE also needs /dev/fuse, granted with the devfs rule "path fuse unhide"',
  },
  'mount.nullfs': { caps: ['CAP_SYS_ADMIN'], note: 'nullfs is a bind mount on Linux' },
  'mount.procfs': SYS_ADMIN_MOUNT,
  'mount.linprocfs': SYS_ADMIN_MOUNT,
  'mount.linsysfs': SYS_ADMIN_MOUNT,
  'mount.tmpfs': SYS_ADMIN_MOUNT,
  'mount.zfs': { unsupported: 'ZFS datasets cannot be delegated to a Linux container' },
  vmm: { unsupported: 'vmm(4) is FreeBSD’s hypervisor; on Linux grant /dev/kvm with a devfs rule instead' },
  vmm_ppt: { unsupported: 'PCI passthrough of vmm(4) has no Linux counterpart in brig' },
};

/** SysV IPC syscalls denied (ENOSYS, as a FreeBSD jail with the class disabled) per class. */
export const SYSVIPC_SYSCALLS: Readonly<Record<SysvipcClass, readonly string[]>> = {
  msg: ['msgctl', 'msgget', 'msgrcv', 'msgsnd'],
  shm: ['shmat', 'shmctl', 'shmdt', 'shmget'],
  sem: ['semctl', 'semget', 'semop', 'semtimedop'],
};

export interface LinuxEffects {
  /** Capabilities to add to the runtime's default set, sorted. */
  readonly capabilities: readonly string[];
  /** `host` shares the host's IPC namespace (some class is `inherit`); `new` gives the container its own. */
  readonly ipcNamespace: 'new' | 'host';
  /**
   * `new` (vnet granted): the container's own network namespace, loopback only, where
   * CAP_NET_ADMIN acts; `host`: the host's network stack, and never CAP_NET_ADMIN.
   */
  readonly networkNamespace: 'new' | 'host';
  /** Syscalls a seccomp filter must fail with ENOSYS (the SysV IPC classes set to `disable`). */
  readonly deniedSyscalls: readonly string[];
  /** Granted privileges without effect on Linux. */
  readonly warnings: readonly string[];
  /** Granted privileges Linux cannot provide: refuse to start. */
  readonly unsupported: readonly { readonly item: string; readonly reason: string }[];
}

const MOUNT_NAMES = ALLOW_NAMES.filter((n) => n === 'mount' || n.startsWith('mount.'));

export function linuxEffects(grant: Grant): LinuxEffects {
  const caps = new Set<string>();
  const warnings: string[] = [];
  const unsupported: { item: string; reason: string }[] = [];
  for (const name of grant.allow) {
    const m = LINUX_ALLOW[name];
    if (m.unsupported) unsupported.push({ item: `allow.${name}`, reason: m.unsupported });
    if (m.warning) warnings.push(m.warning);
    if (name === 'chflags' && grant.securelevel >= 1) {
      warnings.push(
        `allow.chflags is dropped on Linux at securelevel ${grant.securelevel}: CAP_LINUX_IMMUTABLE could clear immutable flags`,
      );
      continue;
    }
    for (const c of m.caps ?? []) caps.add(c);
  }
  if (
    grant.allow.some(
      (n) => (MOUNT_NAMES as readonly string[]).includes(n) && LINUX_ALLOW[n].caps?.includes('CAP_SYS_ADMIN'),
    )
  )
    warnings.push(
      'mounting on Linux needs CAP_SYS_ADMIN, which allows much more than mounting one filesystem type',
    );
  if (grant.vnet) caps.add('CAP_NET_ADMIN');
  if (grant.childrenMax > 0)
    unsupported.push({
      item: `children.max=${grant.childrenMax}`,
      reason: 'brig does not run containers inside Linux containers',
    });
  if (grant.securelevel >= 1)
    warnings.push(
      `securelevel ${grant.securelevel} has no Linux counterpart; the container already lacks CAP_SYS_MODULE and CAP_SYS_RAWIO`,
    );

  const ipc = linuxSysvipc(grant.sysvipc);
  for (const c of ipc.conflicts)
    unsupported.push({
      item: `sysvipc.${c}=new`,
      reason:
        'Linux has one IPC namespace for msg, shm and sem: one class cannot be new while another is inherit',
    });
  return {
    capabilities: [...caps].sort(),
    ipcNamespace: ipc.ipcNamespace,
    networkNamespace: grant.vnet ? 'new' : 'host',
    deniedSyscalls: ipc.deniedSyscalls,
    warnings,
    unsupported,
  };
}

/**
 * The Linux side of the SysV IPC modes, the one place that decides it (linuxEffects and the
 * Linux bundle both call it). A class without a mode is `new`. Any `inherit` shares the host's
 * IPC namespace; every `disable`d class has its syscalls denied; `conflicts` lists the classes
 * that are `new` while another is `inherit` (Linux cannot do that).
 */
export function linuxSysvipc(modes: Partial<Record<SysvipcClass, 'new' | 'inherit' | 'disable'>>): {
  ipcNamespace: 'new' | 'host';
  deniedSyscalls: string[];
  conflicts: SysvipcClass[];
} {
  const mode = (c: SysvipcClass) => modes[c] ?? 'new';
  const inherit = SYSVIPC_CLASSES.some((c) => mode(c) === 'inherit');
  const denied: string[] = [];
  for (const c of SYSVIPC_CLASSES) if (mode(c) === 'disable') denied.push(...SYSVIPC_SYSCALLS[c]);
  return {
    ipcNamespace: inherit ? 'host' : 'new',
    deniedSyscalls: denied.sort(),
    conflicts: inherit ? SYSVIPC_CLASSES.filter((c) => mode(c) === 'new') : [],
  };
}

/** Throws ERR_UNSUPPORTED_PLATFORM naming every item Linux cannot provide. */
export function assertLinuxSupported(effects: LinuxEffects): void {
  if (effects.unsupported.length === 0) return;
  throw new BrigError(
    'ERR_UNSUPPORTED_PLATFORM',
    `granted privileges that Linux cannot provide:\n${effects.unsupported.map((u) => `  ${u.item}: ${u.reason}`).join('\n')}`,
    { details: { unsupported: effects.unsupported.map((u) => ({ ...u })) } },
  );
}

/** What freebsdJailParams needs: a policy Grant and the platform's PrivilegeGrant both fit. */
export interface JailGrant {
  readonly allow?: readonly string[];
  readonly sysvipc?: Partial<Record<SysvipcClass, 'new' | 'inherit' | 'disable'>>;
  readonly vnet?: boolean;
  readonly childrenMax?: number;
  readonly securelevel?: number;
  /** The container's devfs ruleset; 4 ($devfsrules_jail) when absent. */
  readonly devfsRuleset?: number;
}

/**
 * The jail(8) parameters a container's jail must end up with: the one mapping from a grant to a
 * jail (the FreeBSD platform turns it into ocijail annotations and `jail -m`). Rules (jail(8)):
 *   - every granted allow.* (of jail(8)'s names) is true; allow.set_hostname, allow.raw_sockets and allow.chflags
 *     (on by default in jail(8), or always set by ocijail) are false unless granted;
 *   - any allow.mount.<fs> also sets allow.mount: "effective only together with allow.mount";
 *   - enforce_statfs=1 always: mounting needs a value lower than 2, and 2 would also make
 *     statfs(2) fail (ENOENT) on every mount below the root (/dev, volumes), so ocijail sets 1;
 *   - devfs_ruleset is the container's ruleset, so a devfs mounted inside the jail (with
 *     allow.mount.devfs) gets the container's rules and no other;
 *   - securelevel only when ≥ 0 (-1: the host's applies); sysv* when the grant names a mode;
 *     children.max and vnet always.
 */
export function freebsdJailParams(grant: JailGrant): Record<string, string> {
  // only jail(8)'s names (sysvipc: its deprecated spelling, which the policy expands), so
  // nothing else reaches `jail -m`
  const allow = new Set(
    (grant.allow ?? [])
      .map((a) => a.replace(/^allow\./, ''))
      .filter((a) => a === 'sysvipc' || (ALLOW_NAMES as readonly string[]).includes(a)),
  );
  const out: Record<string, string> = {};
  for (const n of [...allow].sort()) out[`allow.${n}`] = 'true';
  if ([...allow].some((n) => n.startsWith('mount.'))) out['allow.mount'] = 'true';
  for (const n of ['set_hostname', 'raw_sockets', 'chflags']) if (!allow.has(n)) out[`allow.${n}`] = 'false';
  out.enforce_statfs = '1';
  out.devfs_ruleset = String(grant.devfsRuleset ?? DEFAULT_DEVFS_RULESET);
  for (const c of SYSVIPC_CLASSES) {
    const mode = grant.sysvipc?.[c];
    if (mode) out[`sysv${c}`] = mode;
  }
  out['children.max'] = String(grant.childrenMax ?? 0);
  if ((grant.securelevel ?? -1) >= 0) out.securelevel = String(grant.securelevel);
  out.vnet = grant.vnet ? 'new' : 'inherit';
  return out;
}

/** $devfsrules_jail of /etc/defaults/devfs.rules: the ruleset when the grant names none. */
export const DEFAULT_DEVFS_RULESET = 4;

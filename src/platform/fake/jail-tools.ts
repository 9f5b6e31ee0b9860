/**
 * jail(8), jls(8) and jexec(8) on the simulated host.
 *
 * jail: `jail [-dhilqv] [-J jid_file] -c|-m param=value ... [command=...]`, `jail [-qv] -r jail ...`
 *   (`-cm` together = create or modify). Parameters are checked against the kernel's list with
 *   their types (integers, strings, booleans written `p`/`nop`/`p=true`, jailsys `new|inherit|
 *   disable`, address lists); the jail(8) pseudo-parameters `mount.devfs`, `vnet.interface` and
 *   `exec.*` are understood; `command=` is refused (the simulator runs no program).
 *   On success jail prints `NAME: created|updated|removed` (stdout), `-i` prints the jid.
 * jls:  `jls [-dhNnqsv] [--libxo json] [-j jail] [param ...]` in every print mode of jls.c.
 * jexec: `jexec [-l] [-u user | -U user] jail [command ...]`; the command's answer comes from the
 *   host's exec handler.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { HostState, JailParamValue, JailState } from './host-state.ts';
import { moveTo } from './ifconfig-tool.ts';
import { endContainer } from './lifecycle.ts';
import {
  die,
  type GetoptResult,
  getopt,
  has,
  normPath,
  ok,
  optVal,
  type ToolContext,
  type ToolOutput,
  uint,
} from './tool.ts';

type ParamType = 'int' | 'string' | 'bool' | 'sys' | 'ip4' | 'ip6';

export const ALLOW_PARAMS = [
  'allow.adjtime',
  'allow.chflags',
  'allow.extattr',
  'allow.mlock',
  'allow.mount',
  'allow.mount.devfs',
  'allow.mount.fdescfs',
  'allow.mount.fusefs',
  'allow.mount.linprocfs',
  'allow.mount.linsysfs',
  'allow.mount.nullfs',
  'allow.mount.procfs',
  'allow.mount.tmpfs',
  'allow.mount.zfs',
  'allow.nfsd',
  'allow.quotas',
  'allow.raw_sockets',
  'allow.read_msgbuf',
  'allow.reserved_ports',
  'allow.routing',
  'allow.set_hostname',
  'allow.setaudit',
  'allow.settime',
  'allow.socket_af',
  'allow.suser',
  'allow.sysvipc',
  'allow.unprivileged_parent_tampering',
  'allow.unprivileged_proc_debug',
  'allow.vmm',
];

/**
 * The kernel's jail parameters (FreeBSD 14), with their types. `ro`: not settable. `size`: a
 * string parameter's buffer in kern_jail.c (with its NUL: MAXHOSTNAMELEN 256, MAXPATHLEN 1024,
 * HOSTUUIDLEN 64, OSRELEASELEN 32); a longer value is ENAMETOOLONG. Others: 1024 (not checked).
 */
export const JAIL_PARAMS: Record<string, { type: ParamType; ro?: boolean; size?: number }> = {
  jid: { type: 'int' },
  parent: { type: 'int', ro: true },
  name: { type: 'string', size: 256 },
  path: { type: 'string', size: 1024 },
  securelevel: { type: 'int' },
  devfs_ruleset: { type: 'int' },
  enforce_statfs: { type: 'int' },
  persist: { type: 'bool' },
  dying: { type: 'bool', ro: true },
  'children.max': { type: 'int' },
  'children.cur': { type: 'int', ro: true },
  'cpuset.id': { type: 'int', ro: true },
  host: { type: 'sys' },
  'host.hostname': { type: 'string', size: 256 },
  'host.domainname': { type: 'string', size: 256 },
  'host.hostuuid': { type: 'string', size: 64 },
  'host.hostid': { type: 'int' },
  ip4: { type: 'sys' },
  'ip4.addr': { type: 'ip4' },
  'ip4.saddrsel': { type: 'bool' },
  ip6: { type: 'sys' },
  'ip6.addr': { type: 'ip6' },
  'ip6.saddrsel': { type: 'bool' },
  vnet: { type: 'sys' },
  sysvmsg: { type: 'sys' },
  sysvsem: { type: 'sys' },
  sysvshm: { type: 'sys' },
  osrelease: { type: 'string', size: 32 },
  osreldate: { type: 'int' },
  meta: { type: 'string' },
  env: { type: 'string' },
  'zfs.mount_snapshot': { type: 'int' },
  ...Object.fromEntries(ALLOW_PARAMS.map((p) => [p, { type: 'bool' as const }])),
};

/** jail(8)'s own parameters (not passed to the kernel). */
const PSEUDO_PARAMS = new Set([
  'command',
  'exec.prepare',
  'exec.prestart',
  'exec.created',
  'exec.start',
  'exec.poststart',
  'exec.prestop',
  'exec.stop',
  'exec.poststop',
  'exec.release',
  'exec.clean',
  'exec.jail_user',
  'exec.system_jail_user',
  'exec.system_user',
  'exec.timeout',
  'exec.consolelog',
  'exec.fib',
  'stop.timeout',
  'interface',
  'vnet.interface',
  'ip_hostname',
  'mount',
  'mount.fstab',
  'mount.devfs',
  'mount.fdescfs',
  'mount.procfs',
  'allow.dying',
  'depend',
]);

const JAIL_USAGE = `usage: jail [-dhilqv] [-J jid_file] [-u username] [-U username]
            -[cmr] param=value ... [command=command ...]
       jail [-dhilqv] [-f file] -[cmr] [jail]
       jail [-qv] [-f file] -[rR] ['*' | jail ...]
       jail [-dhilqv] [-J jid_file] [-u username] [-U username]
            [-n jailname] [-s securelevel]
            path hostname ip[,...] command ...
       jail [-f file] -e separator`;

export function findJail(st: HostState, key: string): JailState | undefined {
  const n = uint(key);
  if (n !== undefined && n > 0 && st.jails[String(n)]) return st.jails[String(n)];
  return Object.values(st.jails).find((j) => j.name === key);
}

const SYS_VALUES: Record<string, string> = {
  new: 'new',
  inherit: 'inherit',
  disable: 'disable',
  '0': 'disable',
  '1': 'new',
  '2': 'inherit',
};

/** Parses `param`, `noparam`, `param=value` into a typed kernel value, as libjail's import does. */
function importParam(
  word: string,
): { name: string; value: JailParamValue; pseudo: boolean } | { error: string } {
  const eq = word.indexOf('=');
  let name = eq < 0 ? word : word.slice(0, eq);
  const raw = eq < 0 ? undefined : word.slice(eq + 1);
  if (PSEUDO_PARAMS.has(name)) return { name, value: raw ?? 'true', pseudo: true };
  let negated = false;
  if (!(name in JAIL_PARAMS) && raw === undefined) {
    const dot = name.lastIndexOf('.');
    const last = name.slice(dot + 1);
    if (last.startsWith('no')) {
      const positive = `${name.slice(0, dot + 1)}${last.slice(2)}`;
      if (JAIL_PARAMS[positive]?.type === 'bool') {
        name = positive;
        negated = true;
      }
    }
  }
  const def = JAIL_PARAMS[name];
  if (!def) return { error: `unknown parameter: ${name}` };
  if (def.ro) return { error: `${name}: read-only parameter` };
  switch (def.type) {
    case 'bool': {
      if (raw === undefined) return { name, value: !negated, pseudo: false };
      const v = raw.toLowerCase();
      if (['true', 'on', 'yes', '1'].includes(v)) return { name, value: true, pseudo: false };
      if (['false', 'off', 'no', '0'].includes(v)) return { name, value: false, pseudo: false };
      return { error: `${name}: unknown value "${raw}"` };
    }
    case 'int': {
      if (raw === undefined) return { error: `${name}: missing value` };
      if (!/^-?\d+$/.test(raw)) return { error: `${name}: invalid integer: ${raw}` };
      return { name, value: Number(raw), pseudo: false };
    }
    case 'sys': {
      if (raw === undefined) return { name, value: 'new', pseudo: false };
      const v = SYS_VALUES[raw];
      if (!v) return { error: `${name}: unknown value "${raw}"` };
      return { name, value: v, pseudo: false };
    }
    case 'ip4':
    case 'ip6': {
      if (raw === undefined) return { error: `${name}: missing value` };
      const addrs = raw === '' ? [] : raw.split(',');
      for (const a of addrs) {
        const bare = a.includes('|') ? a.slice(a.indexOf('|') + 1) : a;
        const addr = bare.split('/')[0]!;
        if (def.type === 'ip4' ? !isIPv4(addr) : !isIPv6(addr))
          return { error: `${name}: not an IPv${def.type === 'ip4' ? 4 : 6} address: ${addr}` };
      }
      return {
        name,
        value: addrs.map((a) => (a.includes('|') ? a.slice(a.indexOf('|') + 1) : a).split('/')[0]).join(','),
        pseudo: false,
      };
    }
    default:
      if (raw === undefined) return { error: `${name}: missing value` };
      return { name, value: raw, pseudo: false };
  }
}

function defaultParams(st: HostState, jid: number, name: string): Record<string, JailParamValue> {
  const p: Record<string, JailParamValue> = {
    jid,
    parent: 0,
    name,
    path: '/',
    securelevel: Number(st.sysctl['kern.securelevel'] ?? -1),
    devfs_ruleset: 0,
    enforce_statfs: 2,
    persist: false,
    dying: false,
    'children.max': 0,
    'children.cur': 0,
    'cpuset.id': jid + 1,
    host: 'inherit',
    'host.hostname': st.sysctl['kern.hostname'] ?? '',
    'host.domainname': '',
    'host.hostuuid': '00000000-0000-0000-0000-000000000000',
    'host.hostid': 0,
    ip4: 'disable',
    'ip4.addr': '',
    'ip4.saddrsel': true,
    ip6: 'disable',
    'ip6.addr': '',
    'ip6.saddrsel': true,
    vnet: 'inherit',
    sysvmsg: 'disable',
    sysvsem: 'disable',
    sysvshm: 'disable',
    osrelease: st.sysctl['kern.osrelease'] ?? '',
    osreldate: Number(st.sysctl['kern.osreldate'] ?? 0),
    meta: '',
    env: '',
    'zfs.mount_snapshot': 0,
  };
  // JAIL_DEFAULT_ALLOW in kern_jail.c: set_hostname and reserved_ports.
  for (const a of ALLOW_PARAMS) p[a] = a === 'allow.set_hostname' || a === 'allow.reserved_ports';
  return p;
}

/** Validates a kernel parameter set as jail_set(2) would; returns an error text or undefined. */
function kernelCheck(
  st: HostState,
  params: Record<string, JailParamValue>,
  creating: boolean,
): string | undefined {
  for (const [k, v] of Object.entries(params)) {
    const size = JAIL_PARAMS[k]?.size;
    if (size !== undefined && typeof v === 'string' && Buffer.byteLength(v) >= size)
      return 'jail_set: File name too long';
  }
  const es = params.enforce_statfs;
  if (typeof es === 'number' && (es < 0 || es > 2)) return 'jail_set: Invalid argument';
  if (typeof params['children.max'] === 'number' && (params['children.max'] as number) < 0)
    return 'jail_set: Invalid argument';
  const sl = params.securelevel;
  if (typeof sl === 'number' && (sl < -1 || sl > 3)) return 'jail_set: Invalid argument';
  if (params.vnet === 'disable') return 'vnet cannot be disabled';
  if (params.vnet === 'new' && st.sysctl['kern.features.vimage'] !== '1') return 'vnet is not supported';
  const path = params.path;
  if (creating && typeof path === 'string' && path !== '/' && !path.startsWith('/'))
    return 'path: not an absolute path';
  const name = params.name;
  if (typeof name === 'string' && /^\d+$/.test(name) && Number(name) !== params.jid)
    return 'name cannot be numeric (unless it is the jid)';
  if (typeof name === 'string' && name.includes('.')) {
    const parent = name.slice(0, name.lastIndexOf('.'));
    if (!Object.values(st.jails).some((j) => j.name === parent)) return `jail "${parent}" not found`;
  }
  return undefined;
}

export function jailTool(ctx: ToolContext, args: string[]): ToolOutput {
  const r: GetoptResult = getopt(args, 'cdf:hiJ:lmn:p:qrRs:u:U:ve:', 'jail', JAIL_USAGE);
  const st = ctx.st;
  const create = has(r, 'c');
  const modify = has(r, 'm');
  const remove = has(r, 'r') || has(r, 'R');
  const quiet = has(r, 'q');
  if (has(r, 'f') || has(r, 'e'))
    die('jail: simulated host: jail.conf files are not simulated (use -c with parameters)');
  if (has(r, 'J')) die('jail: simulated host: -J is not simulated');
  if ([create || modify, remove].filter(Boolean).length !== 1) die(JAIL_USAGE);
  if (remove) {
    if (create || modify) die(JAIL_USAGE);
    if (r.rest.length === 0) die(JAIL_USAGE);
    let out = '';
    for (const key of r.rest) {
      const j = findJail(st, key);
      if (!j) die(`jail: "${key}" not found`);
      removeJail(ctx, j);
      if (!quiet) out += `${j.name}: removed\n`;
    }
    return ok(out);
  }
  if (r.rest.length === 0) die(JAIL_USAGE);
  const kernel: Record<string, JailParamValue> = {};
  const pseudo: Record<string, string> = {};
  for (const w of r.rest) {
    if (!w.includes('=') && !(w in JAIL_PARAMS) && !PSEUDO_PARAMS.has(w) && !/(^|\.)no[^.]*$/.test(w)) {
      die(`jail: unknown parameter: ${w}`);
    }
    const p = importParam(w);
    if ('error' in p) die(`jail: ${p.error}`);
    if (p.pseudo) pseudo[p.name] = String(p.value);
    else kernel[p.name] = p.value;
  }
  if ('command' in pseudo)
    die('jail: simulated host: command= is not simulated; jails run programs through ocijail');
  const key =
    kernel.jid !== undefined && kernel.jid !== 0 ? String(kernel.jid) : (kernel.name as string | undefined);
  const existing = key === undefined ? undefined : findJail(st, key);
  const nameOf = (j: JailState) => j.name;
  if (existing && modify) {
    for (const fixed of ['path', 'vnet'] as const) {
      if (fixed in kernel && kernel[fixed] !== existing.params[fixed])
        die(`jail: ${existing.name}: ${fixed} cannot be changed after creation`);
    }
    const next = { ...existing.params, ...kernel };
    const bad = kernelCheck(st, next, false);
    if (bad) die(`jail: ${existing.name}: ${bad}`);
    existing.params = next;
    existing.name = String(next.name);
    if (!next.persist && !jailHasProcesses(st, existing.jid)) {
      removeJail(ctx, existing);
      return ok(quiet ? '' : `${nameOf(existing)}: removed\n`);
    }
    return ok(quiet ? '' : `${nameOf(existing)}: updated\n`);
  }
  if (existing) {
    // kern_jail.c: EEXIST with "jail %d already exists" for a jid, "jail \"%s\" already exists" for a name.
    const byJid = typeof kernel.jid === 'number' && kernel.jid !== 0;
    const label = typeof kernel.name === 'string' ? kernel.name : existing.name;
    die(`jail: ${label}: ${byJid ? `jail ${existing.jid}` : `jail "${existing.name}"`} already exists`);
  }
  if (!create) die(`jail: "${key ?? ''}" not found`);
  let jid = typeof kernel.jid === 'number' && kernel.jid > 0 ? kernel.jid : 0;
  if (jid === 0) {
    jid = st.counters.lastJid + 1;
    while (st.jails[String(jid)]) jid++;
  }
  const name = typeof kernel.name === 'string' && kernel.name !== '' ? kernel.name : String(jid);
  const params: Record<string, JailParamValue> = { ...defaultParams(st, jid, name), ...kernel, jid, name };
  if ('host.hostname' in kernel && !('host' in kernel)) params.host = 'new';
  if (params.vnet === 'new') {
    if (kernel['ip4.addr'] || kernel['ip6.addr'])
      die(`jail: ${name}: vnet jails cannot have IP address restrictions`);
    // A vnet jail has its own stack: no address restriction, ip4/ip6 inherit.
    if (!('ip4' in kernel)) params.ip4 = 'inherit';
    if (!('ip6' in kernel)) params.ip6 = 'inherit';
  }
  if (kernel['ip4.addr'] && !('ip4' in kernel)) params.ip4 = 'new';
  if (kernel['ip6.addr'] && !('ip6' in kernel)) params.ip6 = 'new';
  if (params['allow.sysvipc'] === true) {
    for (const s of ['sysvmsg', 'sysvsem', 'sysvshm']) if (!(s in kernel)) params[s] = 'inherit';
  }
  const bad = kernelCheck(st, params, true);
  if (bad) die(`jail: ${name}: ${bad}`);
  const path = String(params.path);
  if (!ctx.isDir(path)) die(`jail: ${name}: path ${path}: No such file or directory`);
  params.path = normPath(path);
  st.counters.lastJid = jid;
  const j: JailState = { jid, name, params };
  st.jails[String(jid)] = j;
  if (params.vnet === 'new') {
    st.interfaces.push({
      name: 'lo0',
      vnet: jid,
      kind: 'loopback',
      up: false,
      mtu: 16384,
      inet: [],
      inet6: [],
    });
  }
  if (pseudo['vnet.interface']) {
    if (params.vnet !== 'new') die(`jail: ${name}: vnet.interface requires vnet`);
    for (const ifname of pseudo['vnet.interface'].split(',')) {
      const iface = st.interfaces.find((i) => i.name === ifname && i.vnet === 0);
      if (!iface) die(`jail: ${name}: ifconfig ${ifname} vnet ${name}: interface ${ifname} does not exist`);
      moveTo(st, iface, jid);
      iface.up = false;
      iface.inet = [];
      iface.inet6 = [];
    }
  }
  if (pseudo['mount.devfs'] !== undefined && pseudo['mount.devfs'] !== 'false') {
    const target = normPath(`${params.path}/dev`);
    if (!ctx.isDir(target)) die(`jail: ${name}: mount.devfs: ${target}: No such file or directory`);
    const rs = params.devfs_ruleset === 0 ? 4 : Number(params.devfs_ruleset);
    params.devfs_ruleset = rs;
    st.mounts.push({
      fstype: 'devfs',
      source: 'devfs',
      target,
      options: [`ruleset=${rs}`],
      ruleset: rs,
      by: name,
    });
  }
  let out = '';
  if (has(r, 'i')) out += `${jid}\n`;
  if (!params.persist) {
    // A jail with no process and no persist dies as soon as jail(8) is done with it.
    removeJail(ctx, j);
  } else if (!quiet) out += `${name}: created\n`;
  return ok(out);
}

export function jailHasProcesses(st: HostState, jid: number): boolean {
  return Object.values(st.processes).some((p) => p.jid === jid);
}

/** jail_remove(2): kills the jail's processes, returns its vnet interfaces to the host. */
export function removeJail(ctx: ToolContext, j: JailState): void {
  const st = ctx.st;
  for (const c of Object.values(st.containers)) {
    if (c.jid === j.jid && c.status !== 'stopped') endContainer(ctx, c, 128 + 9);
  }
  for (const p of Object.values(st.processes)) if (p.jid === j.jid) delete st.processes[String(p.pid)];
  for (const iface of st.interfaces.filter((i) => i.vnet === j.jid)) {
    if (iface.kind === 'loopback') st.interfaces.splice(st.interfaces.indexOf(iface), 1);
    else {
      moveTo(st, iface, 0);
      iface.up = false;
      iface.inet = [];
      iface.inet6 = [];
    }
  }
  delete st.jails[String(j.jid)];
}

/** Value of a parameter as jailparam_export(3) writes it. */
function exportParam(v: JailParamValue): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return String(v);
}

const JLS_USAGE = 'usage: jls [-dhNnqv] [-j jail] [param ...]';

function sortParams(names: string[]): string[] {
  return names.sort((a, b) => {
    const ad = a.includes('.');
    const bd = b.includes('.');
    if (ad !== bd) return ad ? 1 : -1;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

function jsonString(s: string): string {
  return JSON.stringify(s);
}

export function jlsTool(ctx: ToolContext, args: string[]): ToolOutput {
  let style: 'text' | 'json' = 'text';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--libxo' || a.startsWith('--libxo=') || a.startsWith('--libxo:')) {
      const v = a === '--libxo' ? args[++i] : a.slice(8);
      if (v === undefined) die(JLS_USAGE);
      if (/(^|,)json(,|$)/.test(v)) style = 'json';
      else if (/(^|,)text(,|$)/.test(v)) style = 'text';
      else die(`jls: simulated host: libxo style ${v} is not simulated (json, text)`);
    } else rest.push(a);
  }
  const r = getopt(rest, 'adj:hNnqsv', 'jls', JLS_USAGE);
  let header = false;
  let nameval = false;
  let quoted = false;
  let skip = false;
  let verbose = false;
  for (const [o] of r.opts) {
    if (o === 'h') {
      header = true;
      skip = false;
      verbose = false;
    } else if (o === 'n') {
      nameval = true;
      verbose = false;
    } else if (o === 'q') quoted = true;
    else if (o === 's') {
      nameval = quoted = skip = true;
      header = verbose = false;
    } else if (o === 'v') {
      verbose = true;
      header = nameval = skip = false;
    }
  }
  const byName = has(r, 'N');
  const jsel = optVal(r, 'j');
  const st = ctx.st;
  let jails = Object.values(st.jails).sort((a, b) => a.jid - b.jid);
  if (jsel !== undefined) {
    const j = findJail(st, jsel);
    if (!j) die(`jls: jail "${jsel}" not found`);
    jails = [j];
  }
  let params = r.rest;
  for (const p of params) if (!(p in JAIL_PARAMS) && p !== 'all') die(`jls: unknown parameter: ${p}`);
  if (params.includes('all')) params = sortParams(Object.keys(JAIL_PARAMS));
  const mode: 'verbose' | 'default' | 'params' =
    params.length === 0 && !header && !nameval ? (verbose ? 'verbose' : 'default') : 'params';
  if (mode === 'params' && params.length === 0) params = sortParams(Object.keys(JAIL_PARAMS));
  if (style === 'json') {
    const items = jails.map((j) => {
      const fields: string[] = [];
      const ip4 = String(j.params['ip4.addr'] ?? '');
      if (mode === 'default') {
        fields.push(byName ? `"name":${jsonString(j.name)}` : `"jid":${j.jid}`);
        fields.push(`"ipv4":${jsonString(ip4.split(',')[0] ?? '')}`);
        fields.push(`"hostname":${jsonString(String(j.params['host.hostname']))}`);
        fields.push(`"path":${jsonString(String(j.params.path))}`);
      } else if (mode === 'verbose') {
        fields.push(`"jid":${j.jid}`, `"hostname":${jsonString(String(j.params['host.hostname']))}`);
        fields.push(`"path":${jsonString(String(j.params.path))}`, `"name":${jsonString(j.name)}`);
        fields.push(`"state":"ACTIVE"`, `"cpusetid":${j.params['cpuset.id']}`);
        fields.push(`"ipv4_addrs": [${ip4 ? ip4.split(',').map(jsonString).join(',') : ''}]`);
        const ip6 = String(j.params['ip6.addr'] ?? '');
        fields.push(`"ipv6_addrs": [${ip6 ? ip6.split(',').map(jsonString).join(',') : ''}]`);
      } else {
        for (const p of params) {
          const v = j.params[p];
          const t = JAIL_PARAMS[p]!.type;
          if (t === 'bool') fields.push(`"${p}":${v ? 'true' : 'false'}`);
          else if (t === 'ip4' || t === 'ip6') {
            const list = String(v ?? '');
            fields.push(`"${p}": [${list ? list.split(',').map(jsonString).join(',') : ''}]`);
          } else fields.push(`"${p}":${jsonString(exportParam(v ?? ''))}`);
        }
      }
      return `{${fields.join(',')}}`;
    });
    return ok(`{"__version": "2", "jail-information": {"jail": [${items.join(', ')}]}}\n`);
  }
  let out = '';
  if (mode === 'verbose') {
    out += '   JID  Hostname                      Path\n';
    out += '        Name                          State\n';
    out += '        CPUSetID\n';
    out += '        IP Address(es)\n';
    for (const j of jails) {
      out += `${String(j.jid).padStart(6)}  ${String(j.params['host.hostname']).slice(0, 29).padEnd(29)} ${String(j.params.path).slice(0, 74)}\n`;
      out += `        ${j.name.slice(0, 29).padEnd(29)} ACTIVE\n`;
      out += `        ${j.params['cpuset.id']}\n`;
      for (const a of [String(j.params['ip4.addr']), String(j.params['ip6.addr'])].join(',').split(',')) {
        if (a) out += `        ${a}\n`;
      }
    }
    return ok(out);
  }
  if (mode === 'default') {
    out += byName
      ? ' JID             IP Address      Hostname                      Path\n'
      : '   JID  IP Address      Hostname                      Path\n';
    for (const j of jails) {
      const ip4 = String(j.params['ip4.addr']).split(',')[0] ?? '';
      out += byName ? ` ${j.name.padEnd(15)} ` : `${String(j.jid).padStart(6)}  `;
      out += `${ip4.slice(0, 15).padEnd(15)} ${String(j.params['host.hostname']).slice(0, 29).padEnd(29)} ${String(j.params.path).slice(0, 74)}\n`;
    }
    return ok(out);
  }
  if (header) out += `${params.join(' ')}\n`;
  for (const j of jails) {
    const words: string[] = [];
    for (const p of params) {
      const def = JAIL_PARAMS[p]!;
      const v = j.params[p];
      if (skip) {
        if (def.ro) continue;
        const dot = p.indexOf('.');
        if (dot > 0) {
          const parent = p.slice(0, dot);
          if (JAIL_PARAMS[parent]?.type === 'sys' && j.params[parent] !== 'new') continue;
        }
      }
      if (nameval && def.type === 'bool') {
        const dot = p.lastIndexOf('.');
        words.push(v ? p : `${p.slice(0, dot + 1)}no${p.slice(dot + 1)}`);
        continue;
      }
      let s = exportParam(v ?? '');
      if (s === '') s = quoted ? '""' : nameval ? '' : '-';
      else if (quoted) {
        const qc = s.includes("'") ? '"' : s.includes('"') ? "'" : /[ \t]/.test(s) ? '"' : '';
        s = `${qc}${s}${qc}`;
      }
      words.push(nameval ? `${p}=${s}` : s);
    }
    out += `${words.join(' ')}\n`;
  }
  return ok(out);
}

const JEXEC_USAGE = 'usage: jexec [-l] [-u username | -U username] jail [command ...]';

export function jexecTool(ctx: ToolContext, args: string[]): ToolOutput {
  const r = getopt(args, 'lnu:U:', 'jexec', JEXEC_USAGE);
  if (has(r, 'u') && has(r, 'U')) die(JEXEC_USAGE);
  if (r.rest.length < 1) die(JEXEC_USAGE);
  const j = findJail(ctx.st, r.rest[0]!);
  if (!j) die(`jexec: jail "${r.rest[0]}" not found`);
  const argv = r.rest.length > 1 ? r.rest.slice(1) : ['/bin/sh'];
  const a = ctx.exec({ jail: j.name, jid: j.jid, argv });
  return { code: a.code, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
}

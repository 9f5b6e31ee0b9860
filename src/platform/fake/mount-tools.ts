/**
 * mount(8), mount_nullfs(8), mount_unionfs(8), mount_nfs(8) and umount(8) on the simulated host.
 *
 *   mount                                   list, `special on node (type, flags)`
 *   mount [-dfruvw] [-o opts] -t TYPE special node      TYPE: devfs tmpfs nullfs unionfs nfs
 *                                                       fdescfs procfs zfs
 *   mount_nullfs [-o opts] target mount-point
 *   mount_unionfs [-o below] [-o copymode=traditional|transparent|masquerade]
 *                 [-o whiteout=always|whenneeded] [-o udir=mode] [-o ufile=mode] dir uniondir
 *   mount_nfs [-o opts] rhost:path node     (only exports declared to the host are reachable)
 *   umount [-fv] special|node ...
 *
 * Checked: options known to the file system, the mount point exists and is a directory (a
 * nullfs file mount needs a file on both sides), a nullfs source that does not overlap its
 * mount point, `ruleset=N` for devfs. umount refuses what is not a mount point, and a mount
 * with another mount beneath it (EBUSY, even with -f, as for a covered vnode); without -f it
 * also refuses a file system that holds the root of a jail with running processes.
 */
import type { HostState, MountState } from './host-state.ts';
import {
  die,
  getopt,
  has,
  isUnder,
  normPath,
  ok,
  optVals,
  type ToolContext,
  type ToolOutput,
  uint,
} from './tool.ts';

const GENERIC = new Set([
  'ro',
  'rw',
  'rdonly',
  'noatime',
  'atime',
  'noexec',
  'exec',
  'nosuid',
  'suid',
  'nosymfollow',
  'symfollow',
  'union',
  'update',
  'force',
  'async',
  'sync',
  'noclusterr',
  'noclusterw',
  'multilabel',
  'acls',
  'nfsv4acls',
  'late',
  'noauto',
  'automounted',
  'emptydir',
  'cover',
  'nocover',
  'userquota',
  'groupquota',
  'failok',
  'fstab',
  'current',
]);

const TYPE_OPTS: Record<string, Set<string>> = {
  devfs: new Set(['ruleset']),
  tmpfs: new Set([
    'size',
    'mode',
    'uid',
    'gid',
    'inodes',
    'maxfilesize',
    'nonc',
    'easize',
    'nomtime',
    'pgread',
  ]),
  nullfs: new Set(['nocache', 'cache']),
  unionfs: new Set(['below', 'copymode', 'whiteout', 'udir', 'ufile', 'uid', 'gid']),
  nfs: new Set([
    'nfsv2',
    'nfsv3',
    'nfsv4',
    'vers',
    'tcp',
    'udp',
    'soft',
    'hard',
    'intr',
    'rsize',
    'wsize',
    'readahead',
    'timeo',
    'retrans',
    'retrycnt',
    'nolockd',
    'lockd',
    'noresvport',
    'resvport',
    'bg',
    'fg',
    'nocto',
    'noac',
    'acregmin',
    'acregmax',
    'acdirmin',
    'acdirmax',
    'minorversion',
    'oneopenown',
    'nconnect',
    'port',
    'mntudp',
    'sec',
    'tls',
  ]),
  fdescfs: new Set(['linrdlnk', 'nodup']),
  procfs: new Set([]),
  zfs: new Set([]),
};

const LOCAL = new Set(['nullfs', 'unionfs', 'tmpfs', 'zfs', 'ufs', 'procfs']);

/** `special on node (type, flags)` as mount(8) prints it. */
export function mountLine(m: MountState): string {
  const flags = [m.fstype];
  if (LOCAL.has(m.fstype)) flags.push('local');
  const o = new Set(m.options.map((x) => x.split('=')[0]));
  if (o.has('noatime')) flags.push('noatime');
  if (m.fstype === 'zfs') flags.push('nfsv4acls');
  if (o.has('union')) flags.push('union');
  if (o.has('noexec')) flags.push('noexec');
  if (o.has('nosuid')) flags.push('nosuid');
  if (o.has('ro') || o.has('rdonly')) flags.push('read-only');
  if (m.fstype === 'ufs') flags.push('soft-updates');
  return `${m.source} on ${m.target} (${flags.join(', ')})`;
}

function splitOpts(list: string[]): string[] {
  return list.flatMap((l) => l.split(',')).filter((x) => x !== '');
}

function checkOpts(prog: string, fstype: string, opts: string[]): void {
  const known = TYPE_OPTS[fstype] ?? new Set();
  for (const o of opts) {
    const key = o.split('=')[0]!;
    if (GENERIC.has(key) || known.has(key)) continue;
    die(`${prog}: ${fstype === 'nfs' ? '' : '-o '}${o}: option not supported`);
  }
  for (const o of opts) {
    const [k, v] = o.split(/=(.*)/s) as [string, string | undefined];
    if (fstype === 'devfs' && k === 'ruleset' && (uint(v) === undefined || Number(v) > 65535))
      die(`${prog}: devfs: Invalid argument`);
    if (
      fstype === 'unionfs' &&
      k === 'copymode' &&
      !['traditional', 'transparent', 'masquerade'].includes(v ?? '')
    )
      die(`${prog}: Invalid copy mode: ${v ?? ''}`);
    if (fstype === 'unionfs' && k === 'whiteout' && !['always', 'whenneeded'].includes(v ?? ''))
      die(`${prog}: Invalid whiteout mode: ${v ?? ''}`);
    if (fstype === 'tmpfs' && k === 'size' && !/^\d+[kKmMgGtT]?$/.test(v ?? ''))
      die(`${prog}: ${v ?? ''}: invalid size`);
    if ((k === 'udir' || k === 'ufile' || k === 'mode') && !/^[0-7]{3,4}$/.test(v ?? ''))
      die(`${prog}: Invalid ${k} mode: ${v ?? ''}`);
  }
}

function doMount(
  ctx: ToolContext,
  prog: string,
  fstype: string,
  source: string,
  node: string,
  opts: string[],
  flags: string[],
): ToolOutput {
  const st = ctx.st;
  checkOpts(prog, fstype, opts);
  const target = normPath(ctx.abs(node));
  const all = [...flags, ...opts];
  if (fstype === 'nullfs') {
    const src = normPath(ctx.abs(source));
    const fileMount = ctx.isFile(src);
    if (!fileMount && !ctx.isDir(src)) die(`${prog}: ${source}: No such file or directory`);
    if (fileMount ? !ctx.isFile(target) : !ctx.isDir(target))
      die(
        `${prog}: ${node}: ${ctx.isDir(target) || ctx.isFile(target) ? 'Not a directory' : 'No such file or directory'}`,
      );
    if (!fileMount && (isUnder(src, target) || isUnder(target, src)))
      die(`${prog}: ${node}: Resource deadlock avoided`);
    st.mounts.push({ fstype, source: src, target, options: all });
    return ok();
  }
  if (!ctx.isDir(target))
    die(`${prog}: ${node}: ${ctx.isFile(target) ? 'Not a directory' : 'No such file or directory'}`);
  if (fstype === 'unionfs') {
    const src = normPath(ctx.abs(source));
    if (!ctx.isDir(src)) die(`${prog}: ${source}: No such file or directory`);
    if (src === target || isUnder(target, src) || isUnder(src, target))
      die(`${prog}: ${source} (${src}) and ${node} are not distinct paths`);
    st.mounts.push({ fstype, source: src, target, options: all });
    return ok();
  }
  if (fstype === 'nfs') {
    const m = /^([^:/]+):(\/.*)$/.exec(source);
    if (!m) die(`${prog}: ${source}: hostname:path required`);
    const [, server, path] = m;
    if (!st.nfsExports.some((e) => e.startsWith(`${server}:`)))
      die(`${prog}: ${server}: hostname nor servname provided, or not known`);
    if (!st.nfsExports.some((e) => e === `${server}:${path}` || isUnder(path!, e.slice(server!.length + 1))))
      die(`${prog}: can't access ${path}: Permission denied`);
    st.mounts.push({ fstype, source, target, options: all });
    return ok();
  }
  if (fstype === 'devfs') {
    const rs = opts.find((o) => o.startsWith('ruleset='));
    const ruleset = rs ? Number(rs.slice(8)) : 0;
    st.mounts.push({ fstype, source, target, options: all, ruleset });
    return ok();
  }
  if (fstype === 'zfs') {
    const ds = st.datasets[source];
    if (ds?.type !== 'filesystem') die(`${prog}: ${source}: No such file or directory`);
    if (ds.props.mountpoint !== 'legacy') die(`${prog}: ${source}: Operation not supported`);
    ds.mounted = true;
    st.mounts.push({ fstype, source, target, options: all });
    return ok();
  }
  st.mounts.push({ fstype, source, target, options: all });
  return ok();
}

const MOUNT_USAGE = `usage: mount [-adflpruvw] [-F fstab] [-o options] [-t ufs | external_type]
       mount [-dfpruvw] special | node
       mount [-dfpruvw] [-o options] [-t ufs | external_type] special node`;

export function mountTool(ctx: ToolContext, args: string[]): ToolOutput {
  const r = getopt(args, 'adF:flo:prt:uvw', 'mount', MOUNT_USAGE);
  if (r.rest.length === 0 && !has(r, 'a')) {
    if (r.opts.length > 0 && !r.opts.every(([k]) => k === 'v' || k === 'p' || k === 't')) die(MOUNT_USAGE);
    return ok(ctx.st.mounts.map((m) => `${mountLine(m)}\n`).join(''));
  }
  if (has(r, 'a') || has(r, 'F')) die('mount: simulated host: fstab is not simulated');
  if (r.rest.length !== 2) die(MOUNT_USAGE);
  const types = optVals(r, 't');
  const fstype = types[types.length - 1] ?? 'ufs';
  const opts = splitOpts(optVals(r, 'o'));
  const flags: string[] = [];
  if (has(r, 'r')) flags.push('ro');
  if (has(r, 'u')) die('mount: simulated host: -u (update) is not simulated');
  const [source, node] = r.rest as [string, string];
  const prog = ['nullfs', 'unionfs', 'nfs', 'tmpfs'].includes(fstype) ? `mount_${fstype}` : 'mount';
  if (!(fstype in TYPE_OPTS))
    die(`mount: exec mount_${fstype} not found in /sbin, /usr/sbin: No such file or directory`);
  return doMount(ctx, prog, fstype, source, node, opts, flags);
}

function simpleMount(fstype: string, usage: string, spec: string) {
  return (ctx: ToolContext, args: string[]): ToolOutput => {
    const prog = `mount_${fstype}`;
    const r = getopt(args, spec, prog, usage);
    if (r.rest.length !== 2) die(usage);
    const opts = splitOpts(optVals(r, 'o'));
    const flags = has(r, 'r') ? ['ro'] : [];
    return doMount(ctx, prog, fstype, r.rest[0]!, r.rest[1]!, opts, flags);
  };
}

export const mountNullfsTool = simpleMount(
  'nullfs',
  'usage: mount_nullfs [-o options] target mount-point',
  'o:',
);
export const mountUnionfsTool = simpleMount(
  'unionfs',
  'usage: mount_unionfs [-o options] directory uniondir',
  'o:r',
);
export const mountNfsTool = simpleMount(
  'nfs',
  `usage: mount_nfs [-23bcdiLlNPsTU] [-a maxreadahead] [-D deadthresh]
	[-g maxgroups] [-I readdirsize] [-o options] [-R retrycnt]
	[-r readsize] [-t timeout] [-w writesize] [-x retrans]
	rhost:path node`,
  '23a:bcdD:g:I:iLlNo:PR:r:sTt:Uw:x:',
);
export const mountTmpfsTool = simpleMount('tmpfs', 'usage: mount_tmpfs [-o options] tmpfs mount_point', 'o:');

const UMOUNT_USAGE = `usage: umount [-fNnv] special ... | node ... | fsid ...
       umount -a | -A [-F fstab] [-fnv] [-h host] [-t type]`;

/** Removes the top-most mount on `m.target`; returns an error text when it is busy. */
export function unmountEntry(st: HostState, m: MountState, force: boolean): string | undefined {
  const idx = st.mounts.lastIndexOf(m);
  // A later mount on or under the target covers it: EBUSY, forced or not.
  const beneath = st.mounts.some((x, i) => i > idx && isUnder(x.target, m.target));
  if (beneath) return 'Device busy';
  if (!force) {
    const inUse = Object.values(st.jails).some(
      (j) =>
        isUnder(String(j.params.path), m.target) && Object.values(st.processes).some((p) => p.jid === j.jid),
    );
    if (inUse) return 'Device busy';
  }
  st.mounts.splice(idx, 1);
  if (m.fstype === 'zfs' && st.datasets[m.source]) st.datasets[m.source]!.mounted = false;
  return undefined;
}

export function umountTool(ctx: ToolContext, args: string[]): ToolOutput {
  const r = getopt(args, 'aAF:fh:Nnt:v', 'umount', UMOUNT_USAGE);
  if (has(r, 'a') || has(r, 'A')) die('umount: simulated host: -a/-A are not simulated');
  if (r.rest.length === 0) die(UMOUNT_USAGE);
  const st = ctx.st;
  let out = '';
  for (const arg of r.rest) {
    const p = normPath(ctx.abs(arg));
    const m =
      [...st.mounts].reverse().find((x) => x.target === p) ??
      [...st.mounts].reverse().find((x) => x.source === arg);
    if (!m) {
      if (!ctx.isDir(p) && !ctx.isFile(p)) die(`umount: ${arg}: statfs: No such file or directory`);
      die(`umount: ${arg}: not a file system root directory`);
    }
    const err = unmountEntry(st, m, has(r, 'f'));
    if (err) die(`umount: unmount of ${m.target} failed: ${err}`);
    if (has(r, 'v')) out += `${m.source}: unmount from ${m.target}\n`;
  }
  return ok(out);
}

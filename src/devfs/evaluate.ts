/**
 * Linux: what a devfs ruleset lets a container see, computed from the host's device inventory.
 *
 * Semantics follow the FreeBSD kernel's devfs rules (sys/fs/devfs/devfs_rule.c):
 *   - Every node starts visible with the owner and mode it has on the host.
 *   - Rules run in order; each matching rule applies its actions (hide/unhide, user, group, mode),
 *     so a later rule overrides an earlier one.
 *   - `path` is matched with fnmatch(3) FNM_PATHNAME against the node's path below /dev: `*`, `?`
 *     and brackets never match `/` (hence FreeBSD's pair `pts` and `pts/*`). Matching uses
 *     picomatch with { dot, posix, nobrace, noextglob, noglobstar, nonegate }, which is
 *     fnmatch-like for the patterns parseRule() accepts (tested against glibc's fnmatch).
 *   - Directories are nodes too: they match `path` but never `type`, and a node is visible only
 *     when it and every directory above it are visible (a hidden `pts` hides `pts/0`).
 *   - `type` has no Linux counterpart (FreeBSD matches cdevsw flags); brig approximates it:
 *     disk = every block device; mem = character major 1 (mem, kmem, null, port, zero, full,
 *     random, urandom, kmsg); tape = character major 9 (st); tty = character majors 2, 3 (legacy
 *     ptys), 4, 5 (tty, console, ptmx), 136-143 (pts), 166 (ttyACM), 188 (ttyUSB).
 *   - `user`/`group` names are resolved through `opts.users`/`opts.groups` (the host's passwd and
 *     group, as devfs(8) does on FreeBSD); an unknown name is ERR_DEVFS_RULE_INVALID.
 * The result is the devices to create in the container (OCI `linux.devices`, and the cgroup
 * device allow-list), sorted by path, each with its final mode (permission bits), uid and gid.
 */
import picomatch from 'picomatch';
import { BrigError } from '../errors/errors.ts';
import { type ComposedRuleset, expandRules, type RuleInput } from './compose.ts';
import { type DevfsRule, type DeviceType, formatRule, type Owner } from './rules.ts';

export interface DeviceNode {
  /** Path below /dev, e.g. "fuse", "pts/0"; no leading or trailing "/". */
  readonly path: string;
  readonly type: 'c' | 'b';
  readonly major: number;
  readonly minor: number;
  /** Permission bits (st_mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface EvaluateOptions {
  readonly users?: Readonly<Record<string, number>>;
  readonly groups?: Readonly<Record<string, number>>;
}

const GLOB = {
  dot: true,
  posix: true,
  nobrace: true,
  noextglob: true,
  noglobstar: true,
  nonegate: true,
} as const;

const matchers = new Map<string, (s: string) => boolean>();

/** fnmatch(pattern, path, FNM_PATHNAME) == 0, for patterns parseRule() accepts. */
export function pathMatches(pattern: string, path: string): boolean {
  let m = matchers.get(pattern);
  if (!m) {
    m = picomatch(pattern, GLOB);
    if (matchers.size > 4096) matchers.clear();
    matchers.set(pattern, m);
  }
  return m(path);
}

const TTY_MAJORS = new Set([2, 3, 4, 5, 136, 137, 138, 139, 140, 141, 142, 143, 166, 188]);

/** The devfs(8) `type` a Linux device node counts as, if any. */
export function linuxDeviceType(d: Pick<DeviceNode, 'type' | 'major'>): DeviceType | undefined {
  if (d.type === 'b') return 'disk';
  if (d.major === 1) return 'mem';
  if (d.major === 9) return 'tape';
  if (TTY_MAJORS.has(d.major)) return 'tty';
  return undefined;
}

function resolve(
  owner: Owner,
  table: Readonly<Record<string, number>> | undefined,
  what: string,
  r: DevfsRule,
): number {
  if (typeof owner === 'number') return owner;
  const id = table && Object.hasOwn(table, owner) ? table[owner] : undefined;
  if (id === undefined)
    throw new BrigError(
      'ERR_DEVFS_RULE_INVALID',
      `devfs rule "${formatRule(r)}": unknown ${what} "${owner}" on this host`,
      {
        details: { rule: formatRule(r) },
      },
    );
  return id;
}

interface State {
  hidden: boolean;
  mode: number;
  uid: number;
  gid: number;
  device?: DeviceNode;
}

export function evaluate(
  rules: ComposedRuleset | readonly RuleInput[],
  inventory: readonly DeviceNode[],
  opts: EvaluateOptions = {},
): DeviceNode[] {
  const list = 'canonical' in rules ? rules.rules : expandRules(rules);
  const nodes = new Map<string, State>();
  for (const d of inventory) {
    nodes.set(d.path, { hidden: false, mode: d.mode & 0o7777, uid: d.uid, gid: d.gid, device: d });
    const parts = d.path.split('/');
    for (let k = 1; k < parts.length; k++) {
      const dir = parts.slice(0, k).join('/');
      if (!nodes.has(dir)) nodes.set(dir, { hidden: false, mode: 0o755, uid: 0, gid: 0 });
    }
  }
  for (const r of list) {
    const uid = r.user === undefined ? undefined : resolve(r.user, opts.users, 'user', r);
    const gid = r.group === undefined ? undefined : resolve(r.group, opts.groups, 'group', r);
    for (const [path, s] of nodes) {
      if (r.type !== undefined && (!s.device || linuxDeviceType(s.device) !== r.type)) continue;
      if (r.path !== undefined && !pathMatches(r.path, path)) continue;
      if (r.visibility === 'hide') s.hidden = true;
      else if (r.visibility === 'unhide') s.hidden = false;
      if (uid !== undefined) s.uid = uid;
      if (gid !== undefined) s.gid = gid;
      if (r.mode !== undefined) s.mode = r.mode;
    }
  }
  const out: DeviceNode[] = [];
  for (const [path, s] of nodes) {
    if (!s.device || s.hidden) continue;
    const parts = path.split('/');
    let visible = true;
    for (let k = 1; k < parts.length && visible; k++)
      if (nodes.get(parts.slice(0, k).join('/'))!.hidden) visible = false;
    if (visible) out.push({ ...s.device, mode: s.mode, uid: s.uid, gid: s.gid });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

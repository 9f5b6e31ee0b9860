/**
 * Linux: what a devfs ruleset lets a container see, computed from the host's device inventory.
 *
 * Semantics follow the FreeBSD kernel's devfs rules (sys/fs/devfs/devfs_rule.c):
 *   - Every node starts visible with the owner and mode it has on the host.
 *   - Rules run in order; each matching rule applies its actions (hide/unhide, user, group, mode),
 *     so a later rule overrides an earlier one.
 *   - `path` is matched with fnmatch(3) FNM_PATHNAME against the node's path below /dev: `*`, `?`
 *     and brackets never match `/` (hence FreeBSD's pair `pts` and `pts/*`); see pathMatches
 *     (tested against the C library's fnmatch).
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

/**
 * fnmatch(pattern, path, FNM_PATHNAME) == 0, as the kernel's fnmatch(9) computes it: `*` any run
 * of characters and `?` any one character, neither matching `/`; `[...]` a set (`!` or `^`
 * negates, `a-z` ranges, a leading `]` is a member, never `/`); `\c` the character c.
 * Written out rather than handed to picomatch: picomatch passes some escapes (`\0`, `\d`) and
 * `(?` through to the RegExp engine, so it disagrees with fnmatch on patterns devfs accepts.
 */
export function pathMatches(pattern: string, path: string): boolean {
  return fnmatchAt(pattern, 0, path, 0);
}

function fnmatchAt(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi]!;
    if (c === '*') {
      while (p[pi] === '*') pi++;
      if (pi === p.length) return !s.slice(si).includes('/');
      for (let k = si; k <= s.length; k++) {
        if (fnmatchAt(p, pi, s, k)) return true;
        if (s[k] === '/') return false;
      }
      return false;
    }
    if (si >= s.length) return false;
    if (c === '?') {
      if (s[si] === '/') return false;
      pi++;
      si++;
      continue;
    }
    if (c === '[') {
      const r = bracket(p, pi + 1, s[si]!);
      if (r === undefined) {
        // An unclosed [ is an ordinary character.
        if (s[si] !== '[') return false;
        pi++;
        si++;
        continue;
      }
      if (!r.matched || s[si] === '/') return false;
      pi = r.next;
      si++;
      continue;
    }
    let lit = c;
    if (c === '\\' && pi + 1 < p.length) lit = p[++pi]!;
    if (s[si] !== lit) return false;
    pi++;
    si++;
  }
  return si === s.length;
}

/** Match one character against the set starting after `[`; undefined when the set is unclosed. */
function bracket(p: string, i: number, ch: string): { matched: boolean; next: number } | undefined {
  let negate = false;
  if (p[i] === '!' || p[i] === '^') {
    negate = true;
    i++;
  }
  let ok = false;
  let first = true;
  for (;;) {
    if (i >= p.length) return undefined;
    let c = p[i]!;
    if (c === ']' && !first) break;
    first = false;
    if (c === '\\' && i + 1 < p.length) c = p[++i]!;
    i++;
    if (p[i] === '-' && i + 1 < p.length && p[i + 1] !== ']') {
      let c2 = p[i + 1]!;
      i += 2;
      if (c2 === '\\' && i < p.length) c2 = p[i++]!;
      if (c <= ch && ch <= c2) ok = true;
    } else if (c === ch) ok = true;
  }
  return { matched: ok !== negate, next: i + 1 };
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
    if (
      d.path === '' ||
      d.path.startsWith('/') ||
      d.path.endsWith('/') ||
      d.path.split('/').some((x) => x === '' || x === '.' || x === '..')
    )
      throw new BrigError(
        'ERR_INVALID_ARGUMENT',
        `device path "${d.path}" is not a path below /dev (like "pts/0")`,
      );
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

/**
 * devfs(8) on the simulated host, following sbin/devfs/{devfs,rule}.c:
 *
 *   devfs [-m mount-point] rule [-s ruleset] add [rulenum] rulespec | add -
 *   devfs [-m mount-point] rule [-s ruleset] apply rulenum | rulespec | applyset
 *   devfs [-m mount-point] rule [-s ruleset] del rulenum | delset | show [rulenum] | showsets
 *   devfs [-m mount-point] ruleset ruleset
 *
 * Kernel behaviour modelled: ruleset 0 cannot be modified; rules are auto-numbered last+100;
 * a duplicate number is EEXIST; `include N` needs ruleset N to exist (ESRCH) and not be the
 * ruleset itself; a ruleset exists while it has rules or is referenced (by a devfs mount or an
 * include). `add -` reads rules from stdin split on blanks only: quotes are NOT removed there
 * (a shell removes them on the command line; devfs.rules lines go through `eval` in rc).
 * The effect of rules on device nodes is computed on demand (`visibleDevices`), not stored.
 */
import picomatch from 'picomatch';
import type { DevfsRule, HostState } from './host-state.ts';
import { die, getopt, normPath, ok, optVal, type ToolContext, type ToolOutput, uint } from './tool.ts';

const USAGE = 'usage: devfs rule|ruleset arguments';
const IOCTL_OF: Record<string, string> = {
  add: 'RADD',
  apply: 'RAPPLY',
  applyset: 'SAPPLY',
  del: 'RDEL',
  showsets: 'SGETNEXT',
};
const TYPES = ['disk', 'mem', 'tape', 'tty'];
const USERS: Record<string, number> = {
  root: 0,
  daemon: 1,
  operator: 2,
  bin: 3,
  tty: 4,
  kmem: 5,
  uucp: 66,
  www: 80,
  nobody: 65534,
};
const GROUPS: Record<string, number> = {
  wheel: 0,
  daemon: 1,
  kmem: 2,
  sys: 3,
  tty: 4,
  operator: 5,
  mail: 6,
  bin: 7,
  staff: 20,
  video: 44,
  www: 80,
  nogroup: 65533,
  nobody: 65534,
};

function eatonum(s: string): number {
  const n = uint(s);
  if (n === undefined || n > 65535) die(`devfs rule: error converting to number: ${s}`);
  return n;
}

function eatoi(s: string): number {
  if (!/^-?\d+$/.test(s)) die(`devfs rule: error converting to integer: ${s}`);
  return Number(s);
}

/** rulespec_intok(): parses an argument vector into a rule (number 0 = auto). */
export function parseRuleSpec(av: string[], prog = 'devfs rule'): DevfsRule {
  let i = 0;
  let num = 0;
  if (av[0] !== undefined && uint(av[0]) !== undefined && Number(av[0]) <= 65535) {
    num = Number(av[0]);
    i++;
  }
  if (av[i] === undefined && i === 0) die(`${prog}: unexpected end of rulespec`);
  const rule: DevfsRule = { num, spec: '', conditions: {}, actions: {} };
  for (;;) {
    const w = av[i];
    if (w === 'type') {
      const t = av[i + 1];
      if (t === undefined) die(`${prog}: expecting argument for type`);
      if (!TYPES.includes(t)) die(`${prog}: unknown type: ${t}`);
      rule.conditions.type = t;
      i += 2;
    } else if (w === 'path') {
      const p = av[i + 1];
      if (p === undefined) die(`${prog}: expecting argument for path`);
      rule.conditions.path = p;
      i += 2;
    } else break;
  }
  while (av[i] !== undefined) {
    const w = av[i]!;
    const arg = av[i + 1];
    if (w === 'hide') {
      rule.actions.hide = true;
      i++;
    } else if (w === 'unhide') {
      rule.actions.unhide = true;
      i++;
    } else if (w === 'user' || w === 'group') {
      if (arg === undefined) die(`${prog}: expecting argument for ${w}`);
      const table = w === 'user' ? USERS : GROUPS;
      const id = arg in table ? table[arg]! : eatoi(arg);
      const name = Object.entries(table).find(([, v]) => v === id)?.[0];
      rule.actions[w] = name ?? String(id);
      i += 2;
    } else if (w === 'mode') {
      if (arg === undefined) die(`${prog}: expecting argument for mode`);
      if (!/^[0-7]{1,4}$/.test(arg)) die(`${prog}: invalid mode: ${arg}`);
      rule.actions.mode = (Number.parseInt(arg, 8) & 0o7777).toString(8);
      i += 2;
    } else if (w === 'include') {
      if (arg === undefined) die(`${prog}: expecting argument for include`);
      rule.actions.include = eatonum(arg);
      i += 2;
    } else die(`${prog}: unknown argument: ${w}`);
  }
  rule.spec = ruleText(rule);
  return rule;
}

/** rulespec_outfp() without the number. */
function ruleText(r: DevfsRule): string {
  let s = '';
  if (r.conditions.type) s += ` type ${r.conditions.type}`;
  if (r.conditions.path !== undefined) s += ` path ${r.conditions.path}`;
  if (r.actions.hide) s += ' hide';
  if (r.actions.unhide) s += ' unhide';
  if (r.actions.user !== undefined) s += ` user ${r.actions.user}`;
  if (r.actions.group !== undefined) s += ` group ${r.actions.group}`;
  if (r.actions.mode !== undefined) s += ` mode ${r.actions.mode}`;
  if (r.actions.include !== undefined) s += ` include ${r.actions.include}`;
  return s.slice(1);
}

/** Rulesets that exist: with rules, or referenced by a devfs mount or an include. */
export function existingRulesets(st: HostState): number[] {
  const set = new Set<number>();
  for (const [n, rules] of Object.entries(st.devfsRulesets)) {
    if (rules.length > 0) set.add(Number(n));
    for (const r of rules) if (r.actions.include !== undefined) set.add(r.actions.include);
  }
  for (const m of st.mounts) if (m.fstype === 'devfs' && m.ruleset) set.add(m.ruleset);
  set.delete(0);
  return [...set].sort((a, b) => a - b);
}

/** DEVFSIO_RADD. Returns an errno text on failure. */
export function addRule(st: HostState, rsnum: number, rule: DevfsRule): string | undefined {
  if (rsnum === 0) return 'Invalid argument';
  const rules = (st.devfsRulesets[String(rsnum)] ??= []);
  if (rule.actions.include !== undefined) {
    if (rule.actions.include === rsnum) return 'Invalid argument';
    if (!existingRulesets(st).includes(rule.actions.include)) return 'No such process';
  }
  let num = rule.num;
  if (num === 0) num = (rules.length ? rules[rules.length - 1]!.num : 0) + 100;
  if (num > 65535) return 'No space left on device';
  if (rules.some((r) => r.num === num)) return 'File exists';
  rules.push({ ...rule, num });
  rules.sort((a, b) => a.num - b.num);
  return undefined;
}

function devfsMount(ctx: ToolContext, mp: string) {
  const m = [...ctx.st.mounts].reverse().find((x) => x.target === mp);
  if (!m) {
    if (!ctx.isDir(mp) && !ctx.isFile(mp)) die(`devfs: open: ${mp}: No such file or directory`);
    return undefined;
  }
  return m.fstype === 'devfs' ? m : undefined;
}

export function devfsTool(ctx: ToolContext, args: string[]): ToolOutput {
  const st = ctx.st;
  const top = getopt(args, 'm:', 'devfs', USAGE);
  if (top.rest.length < 1) die(USAGE);
  const mp = normPath(ctx.abs(optVal(top, 'm') ?? '/dev'));
  const mount = devfsMount(ctx, mp);
  const kw = top.rest[0]!;
  if (kw === 'ruleset') {
    if (top.rest.length < 2) die(USAGE);
    const rs = uint(top.rest[1]);
    if (rs === undefined || rs > 65535) die(`devfs ruleset: error converting to number: ${top.rest[1]}`);
    if (!mount) die('devfs ruleset: ioctl DEVFSIO_SUSE: Inappropriate ioctl for device');
    mount.ruleset = rs;
    return ok();
  }
  if (kw !== 'rule') die(`devfs: unknown command: ${kw}`);
  const r = getopt(top.rest.slice(1), 's:', 'devfs rule', USAGE);
  const sOpt = optVal(r, 's');
  const av = r.rest;
  if (av.length < 1) die(USAGE);
  if (!mount)
    die(`devfs rule: ioctl DEVFSIO_${IOCTL_OF[av[0]!] ?? 'RGETNEXT'}: Inappropriate ioctl for device`);
  const rsnum = sOpt !== undefined ? eatonum(sOpt) : (mount!.ruleset ?? 0);
  const cmd = av[0]!;
  const ioctlFail = (name: string, err: string) => die(`devfs rule: ioctl ${name}: ${err}`);
  switch (cmd) {
    case 'add': {
      if (av.length < 2) die(USAGE);
      if (av[1] === '-') {
        ctx.keepOnFailure = true;
        for (const line of ctx.stdin.toString('utf8').split('\n')) {
          const words = line.split(/[ \t]+/).filter((w) => w !== '');
          if (words.length === 0) continue;
          const rule = parseRuleSpec(words);
          const err = addRule(st, rsnum, rule);
          if (err) ioctlFail('DEVFSIO_RADD', err);
        }
        return ok();
      }
      const rule = parseRuleSpec(av.slice(1));
      const err = addRule(st, rsnum, rule);
      if (err) ioctlFail('DEVFSIO_RADD', err);
      return ok();
    }
    case 'apply': {
      if (av.length < 2) die(USAGE);
      const n = uint(av[1]);
      if (n !== undefined && n <= 65535) {
        if (!(st.devfsRulesets[String(rsnum)] ?? []).some((x) => x.num === n))
          ioctlFail('DEVFSIO_RAPPLYID', 'No such file or directory');
      } else if (av[1] !== '-') parseRuleSpec(av.slice(1));
      return ok();
    }
    case 'applyset': {
      if (av.length !== 1) die(USAGE);
      if (!existingRulesets(st).includes(rsnum)) ioctlFail('DEVFSIO_SAPPLY', 'No such process');
      return ok();
    }
    case 'del': {
      if (av[1] === undefined) die(USAGE);
      const n = eatoi(av[1]);
      const rules = st.devfsRulesets[String(rsnum)] ?? [];
      const idx = rules.findIndex((x) => x.num === n);
      if (rsnum === 0 || idx < 0)
        ioctlFail('DEVFSIO_RDEL', rsnum === 0 ? 'Invalid argument' : 'No such file or directory');
      rules.splice(idx, 1);
      if (rules.length === 0) delete st.devfsRulesets[String(rsnum)];
      return ok();
    }
    case 'delset': {
      if (av.length !== 1) die(USAGE);
      delete st.devfsRulesets[String(rsnum)];
      return ok();
    }
    case 'show': {
      const rules = st.devfsRulesets[String(rsnum)] ?? [];
      if (av[1] !== undefined) {
        const n = eatoi(av[1]);
        const next = rules.find((x) => x.num >= n);
        if (!next) ioctlFail('DEVFSIO_RGETNEXT', 'No such file or directory');
        return ok(next!.num === n ? `${next!.num} ${next!.spec}\n` : '');
      }
      return ok(rules.map((x) => `${x.num} ${x.spec}\n`).join(''));
    }
    case 'showsets': {
      if (av.length !== 1) die(USAGE);
      return ok(
        existingRulesets(st)
          .map((n) => `${n}\n`)
          .join(''),
      );
    }
    default:
      return die(`devfs rule: unknown command: ${cmd}`);
  }
}

/** Loads devfs.rules(5) text as /etc/rc.d/devfs does (`$name` references expanded). */
export function loadDevfsRules(st: HostState, text: string): void {
  const names = new Map<string, number>();
  let current: number | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const head = /^\[([^=\]]+)=(\d+)\]$/.exec(line);
    if (head) {
      names.set(head[1]!, Number(head[2]));
      current = Number(head[2]);
      continue;
    }
    if (current === undefined) throw new Error(`devfs.rules: rule outside a ruleset: ${line}`);
    const expanded = line.replace(/\$(\w+)/g, (_, n: string) => String(names.get(n) ?? `$${n}`));
    const words = (expanded.match(/'[^']*'|"[^"]*"|\S+/g) ?? []).map((w) =>
      w.replace(/^(['"])(.*)\1$/, '$2'),
    );
    if (words[0] !== 'add') throw new Error(`devfs.rules: only add is supported: ${line}`);
    const err = addRule(st, current, parseRuleSpec(words.slice(1)));
    if (err) throw new Error(`devfs.rules: ${line}: ${err}`);
  }
}

/** The device nodes of a fresh FreeBSD host, as names under /dev. */
export const DEFAULT_DEVICES = [
  'null',
  'zero',
  'random',
  'urandom',
  'crypto',
  'console',
  'ptmx',
  'pts',
  'pts/0',
  'fd',
  'fd/0',
  'fd/1',
  'fd/2',
  'stdin',
  'stdout',
  'stderr',
  'mem',
  'kmem',
  'io',
  'klog',
  'fuse',
  'zfs',
  'pf',
  'bpf',
  'bpf0',
  'tun0',
  'tap0',
  'ttyv0',
  'ttyu0',
  'ada0',
  'ada0p1',
  'ada0p2',
  'devctl',
  'geom.ctl',
  'netmap',
];

/**
 * Which of `devices` a ruleset leaves visible, applying its rules in order (includes
 * recursively) to every node, as devfs does when a node is created.
 */
export function visibleDevices(
  st: HostState,
  rsnum: number,
  devices: readonly string[] = DEFAULT_DEVICES,
): string[] {
  const matchers = new Map<string, (s: string) => boolean>();
  const match = (pattern: string, name: string) => {
    let m = matchers.get(pattern);
    if (!m) {
      m = picomatch(pattern, { dot: true, posix: true, nobrace: true, noextglob: true });
      matchers.set(pattern, m);
    }
    return m(name);
  };
  const apply = (rs: number, name: string, hidden: boolean, depth: number): boolean => {
    if (depth > 16) return hidden;
    for (const r of st.devfsRulesets[String(rs)] ?? []) {
      if (r.conditions.path !== undefined && !match(r.conditions.path, name)) continue;
      if (r.conditions.type !== undefined) continue;
      if (r.actions.include !== undefined) hidden = apply(r.actions.include, name, hidden, depth + 1);
      if (r.actions.hide) hidden = true;
      if (r.actions.unhide) hidden = false;
    }
    return hidden;
  };
  return devices.filter((d) => !apply(rsnum, d, false, 0));
}

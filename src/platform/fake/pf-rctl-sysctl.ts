/**
 * pfctl(8), rctl(8) and sysctl(8) on the simulated host.
 *
 * pfctl: `-e`, `-d`, `[-a anchor] -f file|-` (rules checked line by line: each must start with a
 *   pf.conf(5) keyword; a bad line gives `FILE:LINE: syntax error` and nothing is loaded),
 *   `[-a anchor] -F rules|nat|Tables|all`, `[-a anchor] -s rules|nat|Tables|Anchors|info`,
 *   `[-a anchor] -t table -T add|delete|show|flush|replace|test addr...`. `-s rules` prints the
 *   rules as loaded, not pf's normalised form.
 * rctl: `rctl [-hn] [filter]`, `rctl -a rule...`, `rctl -r filter...`, `rctl -u [-h] filter`,
 *   `rctl -l filter`; all refused with rctl's message while kern.racct.enable is 0.
 * sysctl: `sysctl [-n] name...`, `sysctl name=value` (tunables and read-only oids refused).
 */
import { isIP } from 'node:net';
import { READ_ONLY_SYSCTLS, TUNABLES } from './host-state.ts';
import { findJail } from './jail-tools.ts';
import { type PfParsed, PfSyntaxError, parsePfConf } from './pf-conf.ts';
import { die, getopt, has, ok, optVal, SIGNALS, type ToolContext, type ToolOutput } from './tool.ts';

const PF_USAGE = `usage: pfctl [-AdeghMmNnOPqRrvz] [-a anchor] [-D macro=value] [-F modifier]
	[-f file] [-i interface] [-K host | network]
	[-k host | network | gateway | label | id] [-o level] [-p device]
	[-s modifier] [-t table -T command [address ...]] [-x level]`;

export function pfctlTool(ctx: ToolContext, args: string[]): ToolOutput {
  const st = ctx.st;
  const r = getopt(args, 'AdeghMmNnOPqRrvza:D:F:f:i:K:k:o:p:s:t:T:x:', 'pfctl', PF_USAGE);
  const anchor = optVal(r, 'a') ?? '';
  if (anchor.startsWith('/') || anchor.endsWith('/') || anchor.includes('//'))
    die(`pfctl: anchor name "${anchor}" is invalid`);
  const anchorKey = anchor;
  const getAnchor = () => (st.pf.anchors[anchorKey] ??= { rules: [], tables: {} });
  let out = '';
  let err = '';
  if (has(r, 'e')) {
    if (st.pf.enabled) die('pfctl: pf already enabled');
    st.pf.enabled = true;
    err += 'pf enabled\n';
  }
  if (has(r, 'd')) {
    if (!st.pf.enabled) die('pfctl: pf not enabled');
    st.pf.enabled = false;
    err += 'pf disabled\n';
  }
  const flush = optVal(r, 'F');
  if (flush !== undefined) {
    const m = ['rules', 'nat', 'Tables', 'all', 'states', 'info', 'Sources', 'ethernet', 'queue'].find(
      (x) => x.startsWith(flush) && flush.length > 0,
    );
    if (!m) die(`pfctl: Unknown flush modifier '${flush}'\n${PF_USAGE}`);
    const a = st.pf.anchors[anchorKey];
    if (m === 'rules' || m === 'all') {
      if (a) a.rules = a.rules.filter((x) => /^(nat|rdr|binat)/.test(x));
      err += 'rules cleared\n';
    }
    if (m === 'nat' || m === 'all') {
      if (a) a.rules = a.rules.filter((x) => !/^(nat|rdr|binat)/.test(x));
      err += 'nat cleared\n';
    }
    if (m === 'Tables' || m === 'all') {
      const n = a ? Object.keys(a.tables).length : 0;
      if (a) a.tables = {};
      err += `${n} tables deleted.\n`;
    }
    if (m === 'states' || m === 'all') err += '0 states cleared\n';
    if (a && a.rules.length === 0 && Object.keys(a.tables).length === 0 && anchorKey !== '')
      delete st.pf.anchors[anchorKey];
  }
  const file = optVal(r, 'f');
  if (file !== undefined) {
    const text = file === '-' ? ctx.stdin.toString('utf8') : ctx.readFile(file)?.toString('utf8');
    if (text === undefined) die(`pfctl: ${file}: No such file or directory`);
    const name = file === '-' ? 'stdin' : file;
    let parsed: PfParsed;
    try {
      parsed = parsePfConf(text);
    } catch (e) {
      if (!(e instanceof PfSyntaxError)) throw e;
      const first = e.message === 'syntax error' ? '' : `${name}:${e.line}: ${e.message}\n`;
      const second = e.message.startsWith('Rules must be in order')
        ? ''
        : `${name}:${e.line}: syntax error\n`;
      die(`${first}${second}pfctl: Syntax error in config file: pf rules not loaded`);
    }
    if (!has(r, 'n')) {
      const a = getAnchor();
      a.rules = parsed.rules;
      a.tables = parsed.tables;
      if (anchorKey !== '' && a.rules.length === 0 && Object.keys(a.tables).length === 0)
        delete st.pf.anchors[anchorKey];
    }
  }
  const table = optVal(r, 't');
  const tcmd = optVal(r, 'T');
  if ((table === undefined) !== (tcmd === undefined)) die(PF_USAGE);
  if (table !== undefined && tcmd !== undefined) {
    const cmds = ['add', 'delete', 'show', 'flush', 'replace', 'test', 'kill', 'expire', 'zero'];
    const c = cmds.find((x) => x.startsWith(tcmd) && tcmd.length > 0);
    if (!c) die(`pfctl: Unknown table command '${tcmd}'`);
    const addrs = r.rest;
    for (const a of addrs)
      if (!isIP(a.split('/')[0]!))
        die(`pfctl: cannot decode ${a}: hostname nor servname provided, or not known`);
    const anc = st.pf.anchors[anchorKey];
    const t = anc?.tables[table];
    switch (c) {
      case 'add': {
        const target = getAnchor();
        if (!target.tables[table]) {
          target.tables[table] = [];
          err += '1 table created.\n';
        }
        const list = target.tables[table]!;
        const added = addrs.filter((a, i) => !list.includes(a) && addrs.indexOf(a) === i);
        list.push(...added);
        err += `${added.length}/${addrs.length} addresses added.\n`;
        break;
      }
      case 'delete': {
        if (!t) die('pfctl: Table does not exist.');
        const del = addrs.filter((a) => t.includes(a));
        anc!.tables[table] = t.filter((a) => !del.includes(a));
        err += `${del.length}/${addrs.length} addresses deleted.\n`;
        break;
      }
      case 'replace': {
        const target = getAnchor();
        target.tables[table] = [...new Set(addrs)];
        err += `${addrs.length} addresses replaced.\n`;
        break;
      }
      case 'flush': {
        if (!t) die('pfctl: Table does not exist.');
        err += `${t.length} addresses deleted.\n`;
        anc!.tables[table] = [];
        break;
      }
      case 'show': {
        if (!t) die('pfctl: Table does not exist.');
        out += [...t]
          .sort()
          .map((a) => `   ${a}\n`)
          .join('');
        break;
      }
      case 'test': {
        if (!t) die('pfctl: Table does not exist.');
        const hit = addrs.filter((a) => t.includes(a)).length;
        err += `${hit}/${addrs.length} addresses match.\n`;
        if (hit !== addrs.length) return { code: 2, stdout: out, stderr: err };
        break;
      }
      default:
        break;
    }
  }
  const show = optVal(r, 's');
  if (show !== undefined) {
    const mods = ['rules', 'nat', 'Tables', 'Anchors', 'info', 'states', 'all'];
    const m = mods.find((x) => x.startsWith(show) && show.length > 0);
    if (!m) die(`pfctl: Unknown show modifier '${show}'\n${PF_USAGE}`);
    const a = st.pf.anchors[anchorKey];
    if (m === 'rules')
      out += (a?.rules ?? [])
        .filter((x) => !/^(nat|rdr|binat)\b/.test(x))
        .map((x) => `${x}\n`)
        .join('');
    if (m === 'nat')
      out += (a?.rules ?? [])
        .filter((x) => /^(nat|rdr|binat)\b/.test(x))
        .map((x) => `${x}\n`)
        .join('');
    if (m === 'Tables')
      out += Object.keys(a?.tables ?? {})
        .sort()
        .map((x) => `${x}\n`)
        .join('');
    if (m === 'Anchors') {
      const prefix = anchorKey === '' ? '' : `${anchorKey}/`;
      const children = new Set<string>();
      for (const k of Object.keys(st.pf.anchors)) {
        if (k === '' || !k.startsWith(prefix) || k === anchorKey) continue;
        children.add(prefix + k.slice(prefix.length).split('/')[0]!);
      }
      out += [...children]
        .sort()
        .map((x) => `  ${x}\n`)
        .join('');
    }
    if (m === 'info') out += `Status: ${st.pf.enabled ? 'Enabled' : 'Disabled'}\n`;
  }
  if (r.opts.length === 0) die(PF_USAGE);
  return ok(out, err);
}

const RCTL_USAGE = `usage: rctl [ -h ] [-a rule | -l filter | -r filter | -u filter | filter]`;
export const RCTL_RESOURCES = [
  'cputime',
  'datasize',
  'stacksize',
  'coredumpsize',
  'memoryuse',
  'memorylocked',
  'maxproc',
  'openfiles',
  'vmemoryuse',
  'pseudoterminals',
  'swapuse',
  'nthr',
  'msgqqueued',
  'msgqsize',
  'nmsgq',
  'nsem',
  'nsemop',
  'nshm',
  'shmsize',
  'wallclock',
  'pcpu',
  'readbps',
  'writebps',
  'readiops',
  'writeiops',
];
const THROTTLE_ONLY = new Set(['readbps', 'writebps', 'readiops', 'writeiops']);
const NO_DENY = new Set(['cputime', 'wallclock', ...THROTTLE_ONLY]);
const SUBJECTS = new Set(['process', 'user', 'loginclass', 'jail']);
const SUFFIX: Record<string, number> = {
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
  e: 2 ** 60,
};

interface RctlRule {
  subject: string;
  id: string;
  resource: string;
  action: string;
  amount?: number;
  per?: string;
}

function parseRctl(text: string, full: boolean): RctlRule | undefined {
  const [lhs, rhs] = text.split(/=(.*)/s) as [string, string | undefined];
  const parts = lhs.split(':');
  if (parts.length > 4) return undefined;
  const [subject = '', id = '', resource = '', action = ''] = parts;
  let subj = subject;
  const alias: Record<string, string> = { p: 'process', u: 'user', l: 'loginclass', j: 'jail' };
  subj = alias[subj] ?? subj;
  if (subj !== '' && !SUBJECTS.has(subj)) return undefined;
  if (resource !== '' && !RCTL_RESOURCES.includes(resource)) return undefined;
  const isSig = action.startsWith('sig') && action.slice(3).toUpperCase() in SIGNALS;
  if (action !== '' && !['deny', 'log', 'devctl', 'throttle'].includes(action) && !isSig) return undefined;
  const rule: RctlRule = { subject: subj, id, resource, action };
  if (rhs !== undefined) {
    const [amt, per] = rhs.split('/');
    const m = /^(\d+)([kmgtpeKMGTPE]?)$/.exec(amt ?? '');
    if (!m) return undefined;
    rule.amount = Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()]! : 1);
    if (per !== undefined) {
      const p = alias[per] ?? per;
      if (!SUBJECTS.has(p)) return undefined;
      rule.per = p;
    }
  }
  if (full && (!subj || !id || !resource || !action || rule.amount === undefined)) return undefined;
  return rule;
}

function rctlText(r: RctlRule): string {
  const per = r.per && r.per !== r.subject ? `/${r.per}` : '';
  return `${r.subject}:${r.id}:${r.resource}:${r.action}=${r.amount}${per}`;
}

function humanize(n: number): string {
  for (const [s, v] of Object.entries(SUFFIX).reverse())
    if (n >= v && n % v === 0) return `${n / v}${s.toUpperCase()}`;
  return String(n);
}

function matches(rule: RctlRule, f: RctlRule): boolean {
  return (
    (!f.subject || f.subject === rule.subject) &&
    (!f.id || f.id === rule.id) &&
    (!f.resource || f.resource === rule.resource) &&
    (!f.action || f.action === rule.action) &&
    (f.amount === undefined || f.amount === rule.amount)
  );
}

export function rctlTool(ctx: ToolContext, args: string[]): ToolOutput {
  const st = ctx.st;
  const r = getopt(args, 'ahlnru', 'rctl', RCTL_USAGE);
  const modes = ['a', 'l', 'r', 'u'].filter((m) => has(r, m));
  if (modes.length > 1) die(RCTL_USAGE);
  if (st.sysctl['kern.racct.enable'] !== '1')
    die('rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable');
  const mode = modes[0];
  const rules = st.rctl.map((t) => parseRctl(t, true)!);
  const human = has(r, 'h');
  const fmt = (x: RctlRule) =>
    human ? rctlText(x).replace(/=(\d+)/, (_, n: string) => `=${humanize(Number(n))}`) : rctlText(x);
  if (mode === 'a') {
    if (r.rest.length === 0) die(RCTL_USAGE);
    for (const t of r.rest) {
      const rule = parseRctl(t, true);
      if (!rule) die(`rctl: failed to add rule '${t}': Invalid argument`);
      if (rule.subject === 'jail' && !findJail(st, rule.id)) {
        // The kernel keeps rules for jails by name; they apply when a jail of that name exists.
      }
      if ((rule.action === 'throttle') !== THROTTLE_ONLY.has(rule.resource))
        die(`rctl: failed to add rule '${t}': Invalid argument`);
      if (rule.action === 'deny' && NO_DENY.has(rule.resource))
        die(`rctl: failed to add rule '${t}': Invalid argument`);
      if (rule.resource === 'pcpu' && rule.amount! > 100 * Number(st.sysctl['hw.ncpu'] ?? 1))
        die(`rctl: failed to add rule '${t}': Invalid argument`);
      const same = (x: RctlRule) =>
        x.subject === rule.subject &&
        x.id === rule.id &&
        x.resource === rule.resource &&
        x.action === rule.action &&
        (x.per ?? x.subject) === (rule.per ?? rule.subject);
      const kept = st.rctl.filter((x) => !same(parseRctl(x, true)!));
      st.rctl = [...kept, rctlText(rule)];
    }
    return ok();
  }
  if (mode === 'r') {
    if (r.rest.length === 0) die(RCTL_USAGE);
    for (const t of r.rest) {
      const f = parseRctl(t, false);
      if (!f) die(`rctl: failed to remove rule '${t}': Invalid argument`);
      const before = st.rctl.length;
      st.rctl = st.rctl.filter((x) => !matches(parseRctl(x, true)!, f));
      if (st.rctl.length === before) die(`rctl: failed to remove rule '${t}': No such process`);
    }
    return ok();
  }
  if (mode === 'u') {
    if (r.rest.length !== 1) die(RCTL_USAGE);
    const f = parseRctl(r.rest[0]!, false);
    if (!f?.subject || !f.id || f.resource)
      die(`rctl: failed to show resource consumption for '${r.rest[0]}': Invalid argument`);
    if (f.subject !== 'jail') die(`rctl: simulated host: only jail usage is simulated`);
    const j = findJail(st, f.id);
    if (!j) die(`rctl: failed to show resource consumption for '${r.rest[0]}': No such process`);
    const procs = Object.values(st.processes).filter((p) => p.jid === j.jid).length;
    const usage: Record<string, number> = {
      maxproc: procs,
      nthr: procs,
      openfiles: procs * 3,
      ...(st.usage[j.name] ?? {}),
    };
    return ok(
      RCTL_RESOURCES.map((res) => `${res}=${human ? humanize(usage[res] ?? 0) : (usage[res] ?? 0)}\n`).join(
        '',
      ),
    );
  }
  if (mode === 'l') {
    if (r.rest.length !== 1) die(RCTL_USAGE);
    const f = parseRctl(r.rest[0]!, false);
    if (f?.subject !== 'process') die(`rctl: failed to get limits for '${r.rest[0]}': Invalid argument`);
    return ok();
  }
  const filters = r.rest.length ? r.rest : [':'];
  let out = '';
  for (const t of filters) {
    const f = parseRctl(t, false);
    if (!f) die(`rctl: failed to get rules for '${t}': Invalid argument`);
    out += rules
      .filter((x) => matches(x, f))
      .map((x) => `${fmt(x)}\n`)
      .join('');
  }
  return ok(out);
}

const SYSCTL_USAGE = `usage: sysctl [-bdeFhiJlNnoqTtWx] [ -B <bufsize> ] [-f filename] name[=value] ...
       sysctl [-bdeFhJlNnoqTtWx] [ -B <bufsize> ] -a`;

export function sysctlTool(ctx: ToolContext, args: string[]): ToolOutput {
  const st = ctx.st;
  const r = getopt(args, 'aB:bdeFf:hiJlNnoqTtWx', 'sysctl', SYSCTL_USAGE);
  const n = has(r, 'n');
  const ignoreUnknown = has(r, 'i');
  if (has(r, 'a')) {
    return ok(
      Object.keys(st.sysctl)
        .sort()
        .map((k) => (n ? `${st.sysctl[k]}\n` : `${k}: ${st.sysctl[k]}\n`))
        .join(''),
    );
  }
  if (r.rest.length === 0) die(SYSCTL_USAGE);
  let out = '';
  for (const w of r.rest) {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    const known = name in st.sysctl;
    if (!known) {
      const prefix = Object.keys(st.sysctl)
        .filter((k) => k.startsWith(`${name}.`))
        .sort();
      if (eq < 0 && prefix.length > 0) {
        out += prefix.map((k) => (n ? `${st.sysctl[k]}\n` : `${k}: ${st.sysctl[k]}\n`)).join('');
        continue;
      }
      if (ignoreUnknown) continue;
      die(`sysctl: unknown oid '${name}'`, 1, out);
    }
    if (eq < 0) {
      out += n ? `${st.sysctl[name]}\n` : `${name}: ${st.sysctl[name]}\n`;
      continue;
    }
    const value = w.slice(eq + 1);
    if (TUNABLES.has(name))
      die(
        `sysctl: oid '${name}' is a read only tunable\nsysctl: Tunable values are set in /boot/loader.conf`,
        1,
        out,
      );
    if (READ_ONLY_SYSCTLS.has(name) || name.startsWith('security.jail.param.'))
      die(`sysctl: oid '${name}' is read only`, 1, out);
    const old = st.sysctl[name]!;
    if (/^-?\d+$/.test(old) && !/^-?\d+$/.test(value)) die(`sysctl: invalid integer '${value}'`, 1, out);
    st.sysctl[name] = value;
    out += n ? `${value}\n` : `${name}: ${old} -> ${value}\n`;
  }
  return ok(out);
}

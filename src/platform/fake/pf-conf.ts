/**
 * A checker for the pf.conf(5) rules brig writes, strict where brig could go wrong:
 *
 * - statement kinds: macros (`name = "value"`), `set`, `scrub`, `table <t> [persist|const|
 *   counters] [{ addresses }]`, `nat`, `rdr`, `binat` (with `pass`, `no`), `nat-anchor`,
 *   `rdr-anchor`, `binat-anchor`, `pass`, `block`, `match`, `anchor`, `load anchor`;
 * - the order pfctl enforces: options, normalization, translation, filtering;
 * - macros defined before use; addresses (any, self, IPv4/IPv6 with prefix, <table>, (if),
 *   interface names, `!`, `{ lists }`), ports (numbers 0-65535, service names, operators,
 *   ranges), protocols, `->` only in translation rules, state options, flags, labels.
 *
 * It does not evaluate rules (no packets are simulated). Anything outside this subset is a
 * syntax error, as it would be for a pfctl that does not know it: extend the subset when brig
 * needs more, from pf.conf(5).
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface PfParsed {
  /** Rule lines (macros expanded, continuations joined), in order. */
  rules: string[];
  tables: Record<string, string[]>;
}

export class PfSyntaxError extends Error {
  readonly line: number;
  constructor(line: number, message = 'syntax error') {
    super(message);
    this.line = line;
  }
}

const ORDER_MSG =
  'Rules must be in order: options, ethernet, normalization, queueing, translation, filtering';
const SERVICES = new Set([
  'ssh',
  'domain',
  'http',
  'www',
  'https',
  'smtp',
  'ftp',
  'ntp',
  'bootps',
  'bootpc',
  'imap',
  'pop3',
  'telnet',
  'auth',
  'submission',
  'imaps',
  'pop3s',
  'syslog',
  'snmp',
  'ldap',
  'ldaps',
  'mysql',
  'postgresql',
  'redis',
]);
const PROTOS = new Set([
  'tcp',
  'udp',
  'icmp',
  'icmp6',
  'ipv6-icmp',
  'carp',
  'pfsync',
  'esp',
  'ah',
  'gre',
  'sctp',
  'igmp',
  'ipencap',
]);

function tokenize(line: string, lineNo: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === ',') {
      i++;
      continue;
    }
    if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new PfSyntaxError(lineNo);
      out.push(line.slice(i, end + 1));
      i = end + 1;
      continue;
    }
    const two = line.slice(i, i + 2);
    if (['->', '!=', '<=', '>=', '><', '<>'].includes(two)) {
      out.push(two);
      i += 2;
      continue;
    }
    if (c === '<') {
      const end = line.indexOf('>', i);
      if (end > i + 1 && /^<[\w.-]+>$/.test(line.slice(i, end + 1))) {
        out.push(line.slice(i, end + 1));
        i = end + 1;
        continue;
      }
    }
    if ('{}()!=<>:/'.includes(c) && !(c === ':' || c === '/')) {
      out.push(c);
      i++;
      continue;
    }
    let j = i;
    while (j < line.length && !' \t,{}()!"<>='.includes(line[j]!) && line.slice(j, j + 2) !== '->') j++;
    if (j === i) throw new PfSyntaxError(lineNo);
    out.push(line.slice(i, j));
    i = j;
  }
  return out;
}

class Cursor {
  i = 0;
  constructor(
    readonly t: string[],
    readonly line: number,
  ) {}
  peek(k = 0): string | undefined {
    return this.t[this.i + k];
  }
  next(): string {
    const v = this.t[this.i++];
    if (v === undefined) throw new PfSyntaxError(this.line);
    return v;
  }
  eat(w: string): boolean {
    if (this.t[this.i] === w) {
      this.i++;
      return true;
    }
    return false;
  }
  expect(w: string): void {
    if (!this.eat(w)) throw new PfSyntaxError(this.line);
  }
  done(): boolean {
    return this.i >= this.t.length;
  }
  fail(): never {
    throw new PfSyntaxError(this.line);
  }
  /** After a `{`: one or more items, each read by `item`, up to the closing `}`. */
  list(item: () => void): void {
    let n = 0;
    for (; !this.eat('}'); n++) item();
    if (n === 0) this.fail();
  }
}

function isAddr(w: string): boolean {
  const [a, len, extra] = w.split('/');
  if (extra !== undefined || !a) return false;
  if (len !== undefined && !/^\d+$/.test(len)) return false;
  if (isIPv4(a)) return len === undefined || Number(len) <= 32;
  if (isIPv6(a)) return len === undefined || Number(len) <= 128;
  return false;
}

function isIfName(w: string): boolean {
  return /^[a-z][a-z0-9_]*\d+[a-z]?$/.test(w) || /^[a-z]+$/.test(w);
}

function host(c: Cursor): void {
  c.eat('!');
  const w = c.next();
  if (w === '{') {
    c.list(() => host(c));
    return;
  }
  if (w === '(') {
    if (!/^[a-z][a-z0-9_]*\d+(:(network|broadcast|peer|0))*$/.test(c.next())) c.fail();
    c.expect(')');
    return;
  }
  if (['any', 'self', 'no-route', 'urpf-failed'].includes(w) || /^<[\w.-]+>$/.test(w) || isAddr(w)) return;
  if (/^[a-z][a-z0-9_]*\d+(:(network|broadcast|peer|0))?$/.test(w)) return;
  c.fail();
}

function portValue(w: string): boolean {
  if (/^\d+$/.test(w)) return Number(w) <= 65535;
  return SERVICES.has(w);
}

function port(c: Cursor): void {
  const w = c.next();
  if (w === '{') {
    c.list(() => port(c));
    return;
  }
  if (['=', '!=', '<', '>', '<=', '>='].includes(w)) {
    if (!portValue(c.next())) c.fail();
    return;
  }
  if (!portValue(w)) {
    const range = /^(\d+):(\d+|\*)$/.exec(w);
    if (!range || Number(range[1]) > 65535 || (range[2] !== '*' && Number(range[2]) > 65535)) c.fail();
    return;
  }
  if (c.peek() === '><' || c.peek() === '<>') {
    c.next();
    if (!portValue(c.next())) c.fail();
  }
}

function proto(c: Cursor): void {
  const known = (p: string) => {
    if (!PROTOS.has(p) && !(/^\d+$/.test(p) && Number(p) < 256)) c.fail();
  };
  const w = c.next();
  if (w === '{') c.list(() => known(c.next()));
  else known(w);
}

/** [on if] [inet|inet6] [proto p] (all | [from h [port p]] [to h [port p]]) */
function ruleHead(c: Cursor): void {
  if (c.eat('on')) {
    c.eat('!');
    const w = c.next();
    if (w === '{') {
      while (!c.eat('}')) if (!isIfName(c.next())) c.fail();
    } else if (!isIfName(w) && w !== 'any') c.fail();
  }
  if (c.peek() === 'inet' || c.peek() === 'inet6') c.next();
  if (c.eat('proto')) proto(c);
  if (c.eat('all')) return;
  // ipportspec: host [port p] | port p (the host may be left out).
  for (const dir of ['from', 'to']) {
    if (!c.eat(dir)) continue;
    if (c.peek() !== 'port') host(c);
    if (c.eat('port')) port(c);
  }
}

function stateOpts(c: Cursor): void {
  if (!c.eat('(')) return;
  let depth = 1;
  while (depth > 0) {
    const w = c.next();
    if (w === '(') depth++;
    else if (w === ')') depth--;
  }
}

function filterOpts(c: Cursor): void {
  while (!c.done()) {
    const w = c.next();
    switch (w) {
      case 'flags': {
        const f = c.next();
        if (f !== 'any' && !/^[FSRPAUEW]*\/[FSRPAUEW]+$/.test(f)) c.fail();
        break;
      }
      case 'keep':
      case 'modulate':
      case 'synproxy':
        c.expect('state');
        stateOpts(c);
        break;
      case 'no':
        c.expect('state');
        break;
      case 'label':
      case 'tag':
      case 'tagged': {
        const s = c.next();
        if (!/^"[^"]*"$/.test(s) && !/^[\w.-]+$/.test(s)) c.fail();
        break;
      }
      case 'user':
      case 'group':
      case 'rtable':
      case 'prio':
      case 'min-ttl':
      case 'max-mss':
      case 'probability':
      case 'tos':
      case 'icmp-type':
      case 'icmp6-type':
      case 'queue':
        c.next();
        break;
      case 'allow-opts':
      case 'fragment':
      case 'no-df':
      case 'random-id':
        break;
      default:
        c.fail();
    }
  }
}

function redirect(c: Cursor): void {
  host(c);
  if (c.eat('port')) {
    const w = c.next();
    if (!portValue(w) && !/^\d+:(\d+|\*)$/.test(w)) c.fail();
  }
  while (!c.done()) {
    const w = c.next();
    if (['bitmask', 'random', 'source-hash', 'round-robin', 'static-port', 'sticky-address'].includes(w))
      continue;
    c.fail();
  }
}

type Section = 0 | 1 | 2 | 3 | 4;

/** Checks pf.conf text; throws PfSyntaxError with the line number of the first problem. */
export function parsePfConf(text: string): PfParsed {
  const rules: string[] = [];
  const tables: Record<string, string[]> = {};
  const macros = new Map<string, string>();
  let section: Section = 0;
  const enter = (s: Section, line: number) => {
    if (s < section) throw new PfSyntaxError(line, ORDER_MSG);
    section = s;
  };
  const physical = text.split('\n');
  for (let n = 0; n < physical.length; n++) {
    const lineNo = n + 1;
    let line = physical[n]!;
    while (line.endsWith('\\') && n + 1 < physical.length) line = `${line.slice(0, -1)} ${physical[++n]}`;
    line = line.replace(/#.*/, '').trim();
    if (line === '') continue;
    const macro = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (macro && !/^(pass|block|match|nat|rdr|binat|table|set|scrub|anchor)\b/.test(line)) {
      const v = macro[2]!.trim();
      const m = /^"([^"]*)"$/.exec(v);
      if (!m) throw new PfSyntaxError(lineNo);
      macros.set(
        macro[1]!,
        m[1]!.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, k: string) => macros.get(k) ?? ''),
      );
      continue;
    }
    let undefinedMacro: string | undefined;
    line = line.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, k: string) => {
      const v = macros.get(k);
      if (v === undefined) undefinedMacro ??= k;
      return v ?? '';
    });
    if (undefinedMacro !== undefined)
      throw new PfSyntaxError(lineNo, `macro '${undefinedMacro}' not defined`);
    const c = new Cursor(tokenize(line, lineNo), lineNo);
    const first = c.next();
    switch (first) {
      case 'set':
        enter(0, lineNo);
        c.next();
        while (!c.done()) c.next();
        break;
      case 'scrub':
        enter(1, lineNo);
        if (c.peek() === 'in' || c.peek() === 'out') c.next();
        ruleHead(c);
        while (!c.done()) c.next();
        break;
      case 'table': {
        const name = c.next();
        const m = /^<([\w.-]+)>$/.exec(name);
        if (!m) c.fail();
        const addrs: string[] = [];
        while (!c.done()) {
          const w = c.next();
          if (w === 'persist' || w === 'const' || w === 'counters') continue;
          if (w === '{') {
            while (!c.eat('}')) {
              const a = c.next();
              if (a === '!') continue;
              if (!isAddr(a)) c.fail();
              addrs.push(a);
            }
            continue;
          }
          c.fail();
        }
        tables[m![1]!] = addrs;
        continue;
      }
      case 'no':
      case 'nat':
      case 'rdr':
      case 'binat': {
        enter(3, lineNo);
        const kind = first === 'no' ? c.next() : first;
        if (!['nat', 'rdr', 'binat'].includes(kind)) c.fail();
        if (c.eat('pass')) c.eat('log');
        ruleHead(c);
        if (c.eat('tag')) c.next();
        if (c.eat('tagged')) c.next();
        if (first === 'no') {
          if (!c.done()) c.fail();
        } else {
          c.expect('->');
          redirect(c);
        }
        break;
      }
      case 'nat-anchor':
      case 'rdr-anchor':
      case 'binat-anchor': {
        enter(3, lineNo);
        if (!/^"[^"]+"$/.test(c.next())) c.fail();
        ruleHead(c);
        if (!c.done()) c.fail();
        break;
      }
      case 'pass':
      case 'block':
      case 'match': {
        enter(4, lineNo);
        if (
          first === 'block' &&
          ['drop', 'return', 'return-rst', 'return-icmp', 'return-icmp6'].includes(c.peek() ?? '')
        )
          c.next();
        if (c.peek() === 'in' || c.peek() === 'out') c.next();
        if (c.eat('log')) stateOpts(c);
        c.eat('quick');
        ruleHead(c);
        filterOpts(c);
        break;
      }
      case 'anchor': {
        enter(4, lineNo);
        if (!/^"[^"]+"$/.test(c.next())) c.fail();
        if (c.peek() === 'in' || c.peek() === 'out') c.next();
        ruleHead(c);
        filterOpts(c);
        break;
      }
      case 'load': {
        c.expect('anchor');
        if (!/^"[^"]+"$/.test(c.next())) c.fail();
        c.expect('from');
        if (!/^"[^"]+"$/.test(c.next())) c.fail();
        if (!c.done()) c.fail();
        break;
      }
      default:
        c.fail();
    }
    rules.push(line.replace(/\s+/g, ' '));
  }
  return { rules, tables };
}

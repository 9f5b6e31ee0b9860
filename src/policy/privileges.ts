/**
 * The privilege vocabulary: what an image may request in the `privileges` object of its `brig`
 * section (design §7), and the flat *privilege items* that policy evaluation, refusals, events
 * and `--grant` all spell the same way.
 *
 *   image field                          item spelling (also the `--grant` value)
 *   devfs: ["path 'bpf*' unhide"]        devfs:path 'bpf*' unhide      (canonical rule, ../devfs)
 *   allow: ["raw_sockets"]               allow.raw_sockets
 *   sysvipc: { shm: "inherit" }          sysvipc.shm=inherit
 *   vnet: true                           vnet
 *   childrenMax: 4                       children.max=4
 *   securelevel: 2                       securelevel=2
 *   (run options, not image fields)      port=80, bind:/srv/data
 *
 * `allow` names are the allow.* parameters of jail(8) (FreeBSD 15), without the `allow.` prefix
 * (the prefix is accepted and dropped). `sysvipc` in `allow` is jail(8)'s deprecated spelling of
 * all three SysV IPC classes in `inherit` mode and is expanded to them. An absent field requests
 * nothing: no devfs rules, no allow.*, no SysV IPC mode (the host picks, see ./policy.ts),
 * no VNET, children.max 0, no securelevel.
 *
 * Errors: a field of the wrong shape or an unknown key is ERR_BRIG_SECTION_INVALID; a value
 * outside the vocabulary (unknown allow name, SysV IPC mode, bad --grant) is ERR_PRIVILEGE_INVALID;
 * a devfs rule that does not parse is ERR_DEVFS_RULE_INVALID. Each names the field
 * (`details.field`, e.g. `brig.privileges.allow[1]`).
 */
import { canonicalRule, expandRules } from '../devfs/index.ts';
import { BrigError } from '../errors/errors.ts';

/** allow.* parameters of jail(8), core then module-specific. */
export const ALLOW_NAMES = [
  'set_hostname',
  'raw_sockets',
  'chflags',
  'mount',
  'mount.devfs',
  'quotas',
  'read_msgbuf',
  'socket_af',
  'mlock',
  'nfsd',
  'reserved_ports',
  'unprivileged_parent_tampering',
  'unprivileged_proc_debug',
  'suser',
  'extattr',
  'adjtime',
  'settime',
  'routing',
  'setaudit',
  'mount.fdescfs',
  'mount.fusefs',
  'mount.nullfs',
  'mount.procfs',
  'mount.linprocfs',
  'mount.linsysfs',
  'mount.tmpfs',
  'mount.zfs',
  'vmm',
  'vmm_ppt',
] as const;
export type AllowName = (typeof ALLOW_NAMES)[number];

/**
 * Granted to every container whatever the policy says: jail(8) turns allow.reserved_ports on by
 * default (Linux engines grant CAP_NET_BIND_SERVICE alike) and allow.suser keeps the jail's root
 * a superuser inside the jail. Requesting them is never refused.
 */
export const BASELINE_ALLOW: readonly AllowName[] = ['reserved_ports', 'suser'];

export const SYSVIPC_CLASSES = ['msg', 'shm', 'sem'] as const;
export type SysvipcClass = (typeof SYSVIPC_CLASSES)[number];
export const SYSVIPC_MODES = ['new', 'inherit', 'disable'] as const;
export type SysvipcMode = (typeof SYSVIPC_MODES)[number];

export const SECURELEVEL_MIN = -1;
export const SECURELEVEL_MAX = 3;
const CHILDREN_MAX_LIMIT = 2147483647;

export interface RequestedPrivileges {
  /** Canonical devfs rules, in the image's order. */
  readonly devfs: readonly string[];
  /** Sorted, without duplicates. */
  readonly allow: readonly AllowName[];
  /** Only the classes the image names. */
  readonly sysvipc: Readonly<Partial<Record<SysvipcClass, SysvipcMode>>>;
  readonly vnet: boolean;
  readonly childrenMax: number;
  readonly securelevel?: number;
}

export const NO_PRIVILEGES: RequestedPrivileges = Object.freeze({
  devfs: [],
  allow: [],
  sysvipc: {},
  vnet: false,
  childrenMax: 0,
});

export type PrivilegeItem =
  | { readonly kind: 'devfs'; readonly rule: string }
  | { readonly kind: 'allow'; readonly name: AllowName }
  | { readonly kind: 'sysvipc'; readonly class: SysvipcClass; readonly mode: SysvipcMode }
  | { readonly kind: 'vnet' }
  | { readonly kind: 'childrenMax'; readonly value: number }
  | { readonly kind: 'securelevel'; readonly value: number }
  | { readonly kind: 'port'; readonly port: number }
  | { readonly kind: 'bind'; readonly path: string };

function shape(field: string, msg: string): BrigError {
  return new BrigError('ERR_BRIG_SECTION_INVALID', `${field}: ${msg}`, { details: { field } });
}

function vocab(field: string, msg: string, hint?: string): BrigError {
  return new BrigError('ERR_PRIVILEGE_INVALID', `${field}: ${msg}`, {
    details: { field },
    ...(hint ? { hint } : {}),
  });
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
  return d[a.length]![b.length]!;
}

function suggestAllow(name: string): string | undefined {
  let best: string | undefined;
  let bestD = 4;
  for (const n of ALLOW_NAMES) {
    const dd = distance(name, n);
    if (dd < bestD) {
      best = n;
      bestD = dd;
    }
  }
  return best;
}

/** An allow.* name from its spelling with or without the prefix; undefined when unknown. */
export function allowName(s: string): AllowName | undefined {
  const n = s.startsWith('allow.') ? s.slice(6) : s;
  return (ALLOW_NAMES as readonly string[]).includes(n) ? (n as AllowName) : undefined;
}

function unknownAllow(field: string, s: string): BrigError {
  const near = suggestAllow(s.replace(/^allow\./, ''));
  return vocab(
    field,
    `"${s}" is not an allow.* parameter of jail(8)${near ? ` (did you mean ${near}?)` : ''}`,
    'docs/privileges.md lists every allow.* parameter brig knows.',
  );
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function integer(field: string, x: unknown, min: number, max: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x))
    throw shape(field, `expected an integer, got ${JSON.stringify(x)}`);
  if (x < min || x > max) throw vocab(field, `${x} is outside ${min}..${max}`);
  return x;
}

function sysvipcMode(field: string, x: unknown): SysvipcMode {
  if (typeof x !== 'string')
    throw shape(field, `expected "new", "inherit" or "disable", got ${JSON.stringify(x)}`);
  if (!(SYSVIPC_MODES as readonly string[]).includes(x))
    throw vocab(field, `"${x}" is not a SysV IPC mode (new, inherit or disable)`);
  return x as SysvipcMode;
}

const KEYS = ['devfs', 'allow', 'sysvipc', 'vnet', 'childrenMax', 'securelevel'];

/**
 * Validate the `privileges` object of a `brig` section (unknown JSON) into RequestedPrivileges.
 * `undefined` means the image requests nothing. `field` prefixes error paths.
 */
export function parsePrivileges(input: unknown, field = 'brig.privileges'): RequestedPrivileges {
  if (input === undefined) return NO_PRIVILEGES;
  if (!isObject(input)) throw shape(field, 'expected an object');
  for (const k of Object.keys(input))
    if (!KEYS.includes(k)) throw shape(`${field}.${k}`, `unknown key (expected one of ${KEYS.join(', ')})`);

  const devfs: string[] = [];
  if (input.devfs !== undefined) {
    if (!Array.isArray(input.devfs)) throw shape(`${field}.devfs`, 'expected an array of devfs rules');
    input.devfs.forEach((r, i) => {
      const f = `${field}.devfs[${i}]`;
      if (typeof r !== 'string') throw shape(f, 'expected a devfs rule (a string)');
      try {
        expandRules([r]); // also refuses rule numbers and includes of unknown rulesets
        devfs.push(canonicalRule(r));
      } catch (e) {
        if (e instanceof BrigError)
          throw new BrigError(e.code, `${f}: ${e.message}`, {
            cause: e,
            details: { field: f, rule: r },
            hint: e.hint,
          });
        throw e;
      }
    });
  }

  const sysvipc: Partial<Record<SysvipcClass, SysvipcMode>> = {};
  if (input.sysvipc !== undefined) {
    if (!isObject(input.sysvipc)) throw shape(`${field}.sysvipc`, 'expected an object with msg, shm, sem');
    for (const [k, v] of Object.entries(input.sysvipc)) {
      if (!(SYSVIPC_CLASSES as readonly string[]).includes(k))
        throw shape(`${field}.sysvipc.${k}`, 'unknown key (expected msg, shm or sem)');
      sysvipc[k as SysvipcClass] = sysvipcMode(`${field}.sysvipc.${k}`, v);
    }
  }

  const allow = new Set<AllowName>();
  if (input.allow !== undefined) {
    if (!Array.isArray(input.allow)) throw shape(`${field}.allow`, 'expected an array of allow.* names');
    input.allow.forEach((a, i) => {
      const f = `${field}.allow[${i}]`;
      if (typeof a !== 'string') throw shape(f, 'expected an allow.* name (a string)');
      if (a === 'sysvipc' || a === 'allow.sysvipc') {
        // jail(8): allow.sysvipc is deprecated and means sysvmsg, sysvsem, sysvshm = inherit.
        for (const c of SYSVIPC_CLASSES) {
          if (sysvipc[c] !== undefined && sysvipc[c] !== 'inherit')
            throw vocab(
              f,
              `allow.sysvipc means sysvipc.${c}=inherit, but ${field}.sysvipc.${c} is "${sysvipc[c]}"`,
            );
          sysvipc[c] = 'inherit';
        }
        return;
      }
      const n = allowName(a);
      if (!n) throw unknownAllow(f, a);
      allow.add(n);
    });
  }

  let vnet = false;
  if (input.vnet !== undefined) {
    if (typeof input.vnet !== 'boolean') throw shape(`${field}.vnet`, 'expected true or false');
    vnet = input.vnet;
  }
  const childrenMax =
    input.childrenMax === undefined
      ? 0
      : integer(`${field}.childrenMax`, input.childrenMax, 0, CHILDREN_MAX_LIMIT);
  const out: RequestedPrivileges = {
    devfs,
    allow: [...allow].sort(),
    sysvipc,
    vnet,
    childrenMax,
    ...(input.securelevel === undefined
      ? {}
      : {
          securelevel: integer(`${field}.securelevel`, input.securelevel, SECURELEVEL_MIN, SECURELEVEL_MAX),
        }),
  };
  return out;
}

/** The spelling of an item: the one refusals, events and --grant use. */
export function spell(i: PrivilegeItem): string {
  switch (i.kind) {
    case 'devfs':
      return `devfs:${i.rule}`;
    case 'allow':
      return `allow.${i.name}`;
    case 'sysvipc':
      return `sysvipc.${i.class}=${i.mode}`;
    case 'vnet':
      return 'vnet';
    case 'childrenMax':
      return `children.max=${i.value}`;
    case 'securelevel':
      return `securelevel=${i.value}`;
    case 'port':
      return `port=${i.port}`;
    case 'bind':
      return `bind:${i.path}`;
  }
}

/** The requested privileges as a flat list of items, in a stable order. */
export function privilegeItems(p: RequestedPrivileges): PrivilegeItem[] {
  const out: PrivilegeItem[] = [];
  for (const rule of p.devfs) out.push({ kind: 'devfs', rule });
  for (const name of p.allow) out.push({ kind: 'allow', name });
  for (const c of SYSVIPC_CLASSES) {
    const mode = p.sysvipc[c];
    if (mode !== undefined) out.push({ kind: 'sysvipc', class: c, mode });
  }
  if (p.vnet) out.push({ kind: 'vnet' });
  if (p.childrenMax > 0) out.push({ kind: 'childrenMax', value: p.childrenMax });
  if (p.securelevel !== undefined) out.push({ kind: 'securelevel', value: p.securelevel });
  return out;
}

function intValue(s: string, spelled: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(s)) throw vocab('--grant', `"${spelled}": "${s}" is not an integer`);
  const v = Number(s);
  if (v < min || v > max) throw vocab('--grant', `"${spelled}": ${v} is outside ${min}..${max}`);
  return v;
}

/**
 * Parse a `--grant` value (or any item spelling) into an item; the devfs rule is canonicalised.
 * Unknown spellings are ERR_PRIVILEGE_INVALID.
 */
export function parseGrant(value: string): PrivilegeItem {
  if (typeof value !== 'string') throw vocab('--grant', 'expected a string');
  const v = value.trim();
  if (v.startsWith('devfs:')) {
    const rule = v.slice(6);
    try {
      expandRules([rule]);
      return { kind: 'devfs', rule: canonicalRule(rule) };
    } catch (e) {
      if (e instanceof BrigError)
        throw new BrigError('ERR_PRIVILEGE_INVALID', `--grant "${value}": ${e.message}`, {
          cause: e,
          details: { field: '--grant' },
        });
      throw e;
    }
  }
  if (v.startsWith('bind:')) {
    const path = v.slice(5);
    if (!path.startsWith('/')) throw vocab('--grant', `"${value}": bind: takes an absolute host path`);
    return { kind: 'bind', path };
  }
  if (v === 'allow.sysvipc')
    throw vocab(
      '--grant',
      '"allow.sysvipc" stands for three privileges',
      'Grant sysvipc.msg=inherit, sysvipc.shm=inherit and sysvipc.sem=inherit one by one.',
    );
  if (v.startsWith('allow.')) {
    const n = allowName(v);
    if (!n) throw unknownAllow('--grant', v);
    return { kind: 'allow', name: n };
  }
  if (v === 'vnet') return { kind: 'vnet' };
  let m = /^sysvipc\.([a-z]+)=([a-z]+)$/.exec(v);
  if (m) {
    if (!(SYSVIPC_CLASSES as readonly string[]).includes(m[1]!))
      throw vocab('--grant', `"${value}": "${m[1]}" is not a SysV IPC class (msg, shm or sem)`);
    if (!(SYSVIPC_MODES as readonly string[]).includes(m[2]!))
      throw vocab('--grant', `"${value}": "${m[2]}" is not a SysV IPC mode (new, inherit or disable)`);
    return { kind: 'sysvipc', class: m[1] as SysvipcClass, mode: m[2] as SysvipcMode };
  }
  m = /^(children\.max|securelevel|port)=(.*)$/.exec(v);
  if (m) {
    if (m[1] === 'children.max')
      return { kind: 'childrenMax', value: intValue(m[2]!, value, 0, CHILDREN_MAX_LIMIT) };
    if (m[1] === 'securelevel')
      return { kind: 'securelevel', value: intValue(m[2]!, value, SECURELEVEL_MIN, SECURELEVEL_MAX) };
    return { kind: 'port', port: intValue(m[2]!, value, 1, 65535) };
  }
  throw vocab(
    '--grant',
    `"${value}" is not a privilege brig knows`,
    'Spell it as the refusal does: allow.NAME, "devfs:RULE", sysvipc.CLASS=MODE, vnet, children.max=N, securelevel=N, port=N or bind:/PATH.',
  );
}

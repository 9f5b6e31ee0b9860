/**
 * Host policy: what brigd grants without anyone's intervention (the `policy` key of its YAML
 * configuration, design §7), and its pure evaluation.
 *
 * Keys and defaults (an empty configuration grants nothing beyond a plain container):
 *   devfs.open      ["include $devfsrules_hide_all", "include $devfsrules_unhide_basic",
 *                    "include $devfsrules_unhide_login", "path 'ttyS*' hide"]   FreeBSD's
 *                    devfsrules_jail without its `fuse` and `zfs` lines (privileges an image must
 *                    ask for), and without ttyS* (legacy pty names on FreeBSD, serial ports on Linux).
 *   devfs.close     ["path mem hide", "path kmem hide", "path io hide", "path port hide"]
 *                    run last, whatever the image asked (raw memory and I/O ports: FreeBSD
 *                    mem, kmem, io; Linux mem, kmem, port).
 *   devfs.grant     []      image devfs rules granted as written (canonical spelling compared)
 *   devfs.rulesets  { first: 1000, max: 256 }  numbers 1000..1255 belong to brig (first >= 6)
 *   allow           []      allow.* names granted (BASELINE_ALLOW are always granted)
 *   sysvipc         { msg: [new, disable], shm: [new, disable], sem: [new, disable] }
 *                    modes granted; `disable` is always granted (it only takes away)
 *   vnet            false
 *   childrenMax     0       the largest children.max granted
 *   securelevel     -1      the lowest securelevel granted; an image may always ask for a higher
 *                            (more restrictive) one, and the kernel never lets a jail go below
 *                            the host's own kern.securelevel
 *   bindMounts      []      host paths (globs) that may be bind-mounted; a path is permitted when
 *                            it or a directory above it matches
 *   ports           ["1024-65535"]  host ports that may be published ("N" or "N-M")
 *   images          []      entries { match, devfs: {grant}, allow, sysvipc, vnet, childrenMax,
 *                            securelevel, bindMounts, ports } that ADD to the keys above for
 *                            images whose reference matches (they never take away)
 *
 * Image reference patterns (`images[].match`, e.g. "registry.example.org/infra/*"): `*` and `?`
 * match within one path component (never `/`), `**` across components, `[...]` a character.
 * A pattern is matched against the repository name ("registry.example.org/infra/app"); a pattern
 * holding a `:` after its last `/` against "name:tag", one holding `@` against "name@digest".
 * References must be given fully qualified (docker.io/library/alpine), as the daemon stores them.
 *
 * evaluate() is pure: (requested privileges, policy, image reference, --grant items) -> the
 * Grant (exactly what the runtimes may use) and the refusals. Each refusal names the item (its
 * --grant spelling), why, the policy key to extend (the last matching images[] entry if any,
 * else the global key) and the fix. A refused item never appears in the Grant.
 */
import { posix } from 'node:path';
import picomatch from 'picomatch';
import * as v from 'valibot';
import { expandRules, formatRule, onlyHides, parseRule } from '../devfs/index.ts';
import { BrigError } from '../errors/errors.ts';
import {
  ALLOW_NAMES,
  type AllowName,
  BASELINE_ALLOW,
  type PrivilegeItem,
  parseGrant,
  privilegeItems,
  type RequestedPrivileges,
  SECURELEVEL_MAX,
  SECURELEVEL_MIN,
  SYSVIPC_CLASSES,
  SYSVIPC_MODES,
  type SysvipcClass,
  type SysvipcMode,
  spell,
} from './privileges.ts';

// ---------------------------------------------------------------------------------------------
// Schema and defaults

function ruleProblem(s: string): string | undefined {
  try {
    expandRules([s]);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

const devfsRule = v.pipe(
  v.string(),
  v.check(
    (s) => ruleProblem(s) === undefined,
    (issue) => ruleProblem(String(issue.input)) ?? 'invalid devfs rule',
  ),
);

const allowNameSchema = v.picklist(
  ALLOW_NAMES,
  (issue) => `"${String(issue.input)}" is not an allow.* parameter of jail(8)`,
);
const modeList = v.array(v.picklist(SYSVIPC_MODES, 'expected new, inherit or disable'));
const securelevelSchema = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(SECURELEVEL_MIN),
  v.maxValue(SECURELEVEL_MAX),
);
const childrenSchema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2147483647));

const PORT_RANGE = /^(\d{1,5})(?:-(\d{1,5}))?$/;
function portRange(s: string): [number, number] | undefined {
  const m = PORT_RANGE.exec(s.trim());
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  return a >= 1 && a <= b && b <= 65535 ? [a, b] : undefined;
}
const portSchema = v.union(
  [
    v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535), v.transform(String)),
    v.pipe(
      v.string(),
      v.check((s) => portRange(s) !== undefined),
      v.transform((s) => s.trim()),
    ),
  ],
  'expected a port "N" or a range "N-M" within 1..65535',
);
const hostGlob = v.pipe(v.string(), v.startsWith('/', 'expected an absolute host path (glob)'));

const sysvipcOverlay = v.strictObject({
  msg: v.optional(modeList),
  shm: v.optional(modeList),
  sem: v.optional(modeList),
});

const imagePolicySchema = v.strictObject({
  match: v.pipe(v.string(), v.minLength(1, 'expected an image reference pattern')),
  devfs: v.optional(v.strictObject({ grant: v.optional(v.array(devfsRule)) })),
  allow: v.optional(v.array(allowNameSchema)),
  sysvipc: v.optional(sysvipcOverlay),
  vnet: v.optional(v.boolean()),
  childrenMax: v.optional(childrenSchema),
  securelevel: v.optional(securelevelSchema),
  bindMounts: v.optional(v.array(hostGlob)),
  ports: v.optional(v.array(portSchema)),
});

const DEFAULT_OPEN = [
  'include $devfsrules_hide_all',
  'include $devfsrules_unhide_basic',
  'include $devfsrules_unhide_login',
  // $devfsrules_unhide_login unhides FreeBSD's legacy pty names ttyS*, which are serial ports on Linux.
  "path 'ttyS*' hide",
];
const DEFAULT_CLOSE = ['path mem hide', 'path kmem hide', 'path io hide', 'path port hide'];
const defaultModes = (): SysvipcMode[] => ['new', 'disable'];

const rulesetsSchema = v.pipe(
  v.strictObject({
    first: v.optional(
      v.pipe(
        v.number(),
        v.integer(),
        v.minValue(6, 'first must be >= 6 (1-5 are FreeBSD’s default rulesets)'),
        v.maxValue(65535),
      ),
      1000,
    ),
    max: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65530)), 256),
  }),
  v.check((r) => r.first + r.max - 1 <= 65535, 'first + max - 1 must not exceed 65535'),
);

/** The valibot schema of the `policy` key; every key optional with its default. */
export const policySchema = v.strictObject({
  devfs: v.optional(
    v.strictObject({
      open: v.optional(v.array(devfsRule), () => [...DEFAULT_OPEN]),
      close: v.optional(v.array(devfsRule), () => [...DEFAULT_CLOSE]),
      grant: v.optional(v.array(devfsRule), () => []),
      rulesets: v.optional(rulesetsSchema, () => ({ first: 1000, max: 256 })),
    }),
    () => ({
      open: [...DEFAULT_OPEN],
      close: [...DEFAULT_CLOSE],
      grant: [],
      rulesets: { first: 1000, max: 256 },
    }),
  ),
  allow: v.optional(v.array(allowNameSchema), () => []),
  sysvipc: v.optional(
    v.strictObject({
      msg: v.optional(modeList, defaultModes),
      shm: v.optional(modeList, defaultModes),
      sem: v.optional(modeList, defaultModes),
    }),
    () => ({ msg: defaultModes(), shm: defaultModes(), sem: defaultModes() }),
  ),
  vnet: v.optional(v.boolean(), false),
  childrenMax: v.optional(childrenSchema, 0),
  securelevel: v.optional(securelevelSchema, SECURELEVEL_MIN),
  bindMounts: v.optional(v.array(hostGlob), () => []),
  ports: v.optional(v.array(portSchema), () => ['1024-65535']),
  images: v.optional(v.array(imagePolicySchema), () => []),
});

export type Policy = v.InferOutput<typeof policySchema>;
export type ImagePolicy = v.InferOutput<typeof imagePolicySchema>;

/** Validate the `policy` key (unknown YAML) into a Policy; ERR_CONFIG_INVALID names the key. */
export function parsePolicy(input: unknown): Policy {
  const r = v.safeParse(policySchema, input ?? {});
  if (r.success) return r.output;
  const issue = r.issues[0];
  const path = [
    'policy',
    ...(issue.path ?? []).map((p) => (typeof p.key === 'number' ? `[${p.key}]` : String(p.key))),
  ]
    .join('.')
    .replace(/\.\[/g, '[');
  const message =
    issue.type === 'strict_object'
      ? issue.expected === 'never'
        ? 'unknown key'
        : 'missing key'
      : issue.message;
  throw new BrigError('ERR_CONFIG_INVALID', `${path}: ${message}`, { details: { key: path } });
}

/** The policy of an empty configuration. */
export const defaultPolicy: Policy = parsePolicy({});

// ---------------------------------------------------------------------------------------------
// Image matching

const REF_GLOB = { dot: true, posix: true, nobrace: true, noextglob: true, nonegate: true } as const;

interface ParsedRef {
  name: string;
  tag?: string;
  digest?: string;
}

function parseRef(ref: string): ParsedRef {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const rest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = rest.lastIndexOf(':');
  const tagged = colon > rest.lastIndexOf('/');
  return {
    name: tagged ? rest.slice(0, colon) : rest,
    ...(tagged ? { tag: rest.slice(colon + 1) } : {}),
    ...(digest ? { digest } : {}),
  };
}

/** Whether an `images[].match` pattern matches an image reference (see the header). */
export function imageMatches(pattern: string, imageRef: string): boolean {
  const ref = parseRef(imageRef);
  const lastSlash = pattern.lastIndexOf('/');
  let subject: string | undefined;
  if (pattern.includes('@')) subject = ref.digest ? `${ref.name}@${ref.digest}` : undefined;
  else if (pattern.indexOf(':', lastSlash + 1) >= 0) subject = ref.tag ? `${ref.name}:${ref.tag}` : undefined;
  else subject = ref.name;
  return subject !== undefined && picomatch.isMatch(subject, pattern, REF_GLOB);
}

/** Indexes of the images[] entries matching the reference. */
export function matchingImages(policy: Policy, imageRef: string | undefined): number[] {
  if (imageRef === undefined) return [];
  const out: number[] = [];
  policy.images.forEach((e, i) => {
    if (imageMatches(e.match, imageRef)) out.push(i);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export interface Grant {
  /** Spellings of the requested items granted (by policy or --grant), in request order. */
  readonly items: readonly string[];
  /** The subset of `items` granted only because --grant named them (each is an event). */
  readonly overrides: readonly string[];
  /** Canonical image devfs rules granted, in the image's order (compose them between open and close). */
  readonly devfs: readonly string[];
  /** allow.* parameters the container gets: granted ones plus BASELINE_ALLOW, sorted. */
  readonly allow: readonly AllowName[];
  /** Every class: the granted request, else `new` when the policy grants it, else `disable`. */
  readonly sysvipc: Readonly<Record<SysvipcClass, SysvipcMode>>;
  readonly vnet: boolean;
  readonly childrenMax: number;
  /** The requested securelevel when granted, else the policy's minimum. */
  readonly securelevel: number;
}

export interface Refusal {
  /** The item's spelling, also the --grant value that overrides it. */
  readonly item: string;
  readonly reason: string;
  /** The policy key to extend, e.g. `policy.allow`, `policy.sysvipc.shm`, `policy.images[2].allow`. */
  readonly policyKey: string;
  /** What to do, in one sentence. */
  readonly fix: string;
}

/** How one requested item was decided, for `brig image explain`. */
export interface Decision {
  readonly item: string;
  readonly granted: boolean;
  /** "granted by policy.allow", "granted by --grant", "always granted: ...", or the refusal's reason. */
  readonly why: string;
}

export interface Evaluation {
  readonly granted: Grant;
  readonly refusals: readonly Refusal[];
  /** One per requested item, in request order. */
  readonly decisions: readonly Decision[];
  /** --grant items that matched no request (the daemon may warn). */
  readonly unusedGrants: readonly string[];
  /** Indexes of the policy.images entries that applied. */
  readonly matchedImages: readonly number[];
}

export interface EvaluateContext {
  /** The image's fully qualified reference, for policy.images matching. */
  readonly imageRef?: string;
  /** --grant values (spellings; parsed with parseGrant, ERR_PRIVILEGE_INVALID when unknown). */
  readonly grants?: readonly string[];
}

/** The policy keys after adding the matching images[] entries. */
interface Effective {
  devfsGrant: Set<string>;
  allow: Set<AllowName>;
  sysvipc: Record<SysvipcClass, Set<SysvipcMode>>;
  vnet: boolean;
  childrenMax: number;
  securelevel: number;
  bindMounts: string[];
  ports: [number, number][];
  /** The key to name in a refusal for a given top-level key. */
  key(k: string): string;
  keys(k: string): string[];
}

function formatCanonical(r: string): string {
  return formatRule(parseRule(r));
}

function canonicalSet(rules: readonly string[]): Set<string> {
  return new Set(rules.map(formatCanonical));
}

function effective(policy: Policy, matched: readonly number[]): Effective {
  const e: Effective = {
    devfsGrant: canonicalSet(policy.devfs.grant),
    allow: new Set(policy.allow),
    sysvipc: {
      msg: new Set(policy.sysvipc.msg),
      shm: new Set(policy.sysvipc.shm),
      sem: new Set(policy.sysvipc.sem),
    },
    vnet: policy.vnet,
    childrenMax: policy.childrenMax,
    securelevel: policy.securelevel,
    bindMounts: [...policy.bindMounts],
    ports: policy.ports
      .map((p) => portRange(String(p)))
      .filter((x): x is [number, number] => x !== undefined),
    key: (k) => (matched.length ? `policy.images[${matched[matched.length - 1]}].${k}` : `policy.${k}`),
    keys: (k) => [`policy.${k}`, ...matched.map((i) => `policy.images[${i}].${k}`)],
  };
  for (const i of matched) {
    const m = policy.images[i]!;
    for (const r of m.devfs?.grant ?? []) e.devfsGrant.add(formatCanonical(r));
    for (const a of m.allow ?? []) e.allow.add(a);
    for (const c of SYSVIPC_CLASSES) for (const mode of m.sysvipc?.[c] ?? []) e.sysvipc[c].add(mode);
    if (m.vnet) e.vnet = true;
    if (m.childrenMax !== undefined) e.childrenMax = Math.max(e.childrenMax, m.childrenMax);
    if (m.securelevel !== undefined) e.securelevel = Math.min(e.securelevel, m.securelevel);
    e.bindMounts.push(...(m.bindMounts ?? []));
    for (const p of m.ports ?? []) {
      const r = portRange(String(p));
      if (r) e.ports.push(r);
    }
  }
  return e;
}

/** Whether the policy alone permits an item; when not, the key and the reason. */
function permits(
  item: PrivilegeItem,
  e: Effective,
): { ok: true } | { ok: false; key: string; reason: string; fix: string } {
  const no = (key: string, reason: string, fix: string) => ({ ok: false as const, key, reason, fix });
  switch (item.kind) {
    case 'devfs': {
      if (onlyHides(parseRule(item.rule)) || e.devfsGrant.has(item.rule)) return { ok: true };
      const key = e.key('devfs.grant');
      return no(
        key,
        `the devfs rule "${item.rule}" is not in ${e.keys('devfs.grant').join(' or ')}`,
        `add "${item.rule}" to ${key}`,
      );
    }
    case 'allow': {
      if (BASELINE_ALLOW.includes(item.name) || e.allow.has(item.name)) return { ok: true };
      const key = e.key('allow');
      return no(
        key,
        `allow.${item.name} is not in ${e.keys('allow').join(' or ')}`,
        `add ${item.name} to ${key}`,
      );
    }
    case 'sysvipc': {
      if (item.mode === 'disable' || e.sysvipc[item.class].has(item.mode)) return { ok: true };
      const key = e.key(`sysvipc.${item.class}`);
      return no(
        key,
        `SysV IPC ${item.class} mode "${item.mode}" is not in ${e.keys(`sysvipc.${item.class}`).join(' or ')}`,
        `add ${item.mode} to ${key}`,
      );
    }
    case 'vnet': {
      if (e.vnet) return { ok: true };
      const key = e.key('vnet');
      return no(key, `VNET is not granted (${key} is false)`, `set ${key}: true`);
    }
    case 'childrenMax': {
      if (item.value <= e.childrenMax) return { ok: true };
      const key = e.key('childrenMax');
      return no(
        key,
        `children.max=${item.value} exceeds ${key} (${e.childrenMax})`,
        `raise ${key} to ${item.value}`,
      );
    }
    case 'securelevel': {
      if (item.value >= e.securelevel) return { ok: true };
      const key = e.key('securelevel');
      return no(
        key,
        `securelevel ${item.value} is below ${key} (${e.securelevel})`,
        `lower ${key} to ${item.value}`,
      );
    }
    case 'port': {
      if (e.ports.some(([a, b]) => item.port >= a && item.port <= b)) return { ok: true };
      const key = e.key('ports');
      return no(
        key,
        `host port ${item.port} is not in ${e.keys('ports').join(' or ')}`,
        `add "${item.port}" to ${key}`,
      );
    }
    case 'bind': {
      if (bindPermitted(item.path, e.bindMounts)) return { ok: true };
      const key = e.key('bindMounts');
      return no(
        key,
        `host path ${item.path} is not under ${e.keys('bindMounts').join(' or ')}`,
        `add "${item.path}" to ${key}`,
      );
    }
  }
}

function ancestors(path: string): string[] {
  const out = [path];
  let p = path;
  while (p !== '/') {
    p = posix.dirname(p);
    out.push(p);
  }
  return out;
}

function bindPermitted(path: string, globs: readonly string[]): boolean {
  const chain = ancestors(path);
  return globs.some((g) => chain.some((p) => picomatch.isMatch(p, g, REF_GLOB)));
}

/** Whether a --grant item covers a requested item. */
function covers(g: PrivilegeItem, item: PrivilegeItem): boolean {
  switch (item.kind) {
    case 'childrenMax':
      return g.kind === 'childrenMax' && g.value >= item.value;
    case 'securelevel':
      return g.kind === 'securelevel' && g.value <= item.value;
    case 'bind':
      return g.kind === 'bind' && ancestors(item.path).includes(posix.normalize(g.path));
    default:
      return spell(g) === spell(item);
  }
}

function decide(
  item: PrivilegeItem,
  e: Effective,
  grants: readonly PrivilegeItem[],
  used: Set<number>,
): { granted: true; override: boolean } | { granted: false; refusal: Refusal } {
  const p = permits(item, e);
  if (p.ok) return { granted: true, override: false };
  const gi = grants.findIndex((g) => covers(g, item));
  if (gi >= 0) {
    used.add(gi);
    return { granted: true, override: true };
  }
  const s = spell(item);
  return {
    granted: false,
    refusal: {
      item: s,
      reason: p.reason,
      policyKey: p.key,
      fix: `${p.fix}, or pass --grant ${shellWord(s)}`,
    },
  };
}

function keyOf(item: PrivilegeItem): string {
  switch (item.kind) {
    case 'devfs':
      return 'devfs.grant';
    case 'sysvipc':
      return `sysvipc.${item.class}`;
    case 'port':
      return 'ports';
    case 'bind':
      return 'bindMounts';
    default:
      return item.kind;
  }
}

/** Why the policy alone permits an item: always, or the first key (global, then images[i]) that does. */
function grantedBy(item: PrivilegeItem, policy: Policy, matched: readonly number[]): string {
  if (item.kind === 'allow' && BASELINE_ALLOW.includes(item.name)) return 'always granted: a jail(8) default';
  if (item.kind === 'devfs' && onlyHides(parseRule(item.rule))) return 'always granted: hiding takes away';
  if (item.kind === 'sysvipc' && item.mode === 'disable') return 'always granted: disable takes away';
  if (permits(item, effective(policy, [])).ok) return `granted by policy.${keyOf(item)}`;
  for (const i of matched)
    if (permits(item, effective(policy, [i])).ok) return `granted by policy.images[${i}].${keyOf(item)}`;
  return 'granted by policy';
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_.,:+@%=/-]+$/.test(s) ? s : `"${s.replace(/(["\\$`])/g, '\\$1')}"`;
}

export function evaluate(
  requested: RequestedPrivileges,
  policy: Policy,
  ctx: EvaluateContext = {},
): Evaluation {
  const grants = (ctx.grants ?? []).map(parseGrant);
  const matched = matchingImages(policy, ctx.imageRef);
  const e = effective(policy, matched);
  const used = new Set<number>();
  const items: string[] = [];
  const overrides: string[] = [];
  const refusals: Refusal[] = [];
  const decisions: Decision[] = [];
  const devfs: string[] = [];
  const allow = new Set<AllowName>(BASELINE_ALLOW);
  const sysvipc: Partial<Record<SysvipcClass, SysvipcMode>> = {};
  let vnet = false;
  let childrenMax = 0;
  let securelevel = e.securelevel;

  for (const item of privilegeItems(requested)) {
    const d = decide(item, e, grants, used);
    const s = spell(item);
    if (!d.granted) {
      refusals.push(d.refusal);
      decisions.push({ item: s, granted: false, why: d.refusal.reason });
      continue;
    }
    items.push(s);
    if (d.override) overrides.push(s);
    decisions.push({
      item: s,
      granted: true,
      why: d.override ? 'granted by --grant' : grantedBy(item, policy, matched),
    });
    switch (item.kind) {
      case 'devfs':
        devfs.push(item.rule);
        break;
      case 'allow':
        allow.add(item.name);
        break;
      case 'sysvipc':
        sysvipc[item.class] = item.mode;
        break;
      case 'vnet':
        vnet = true;
        break;
      case 'childrenMax':
        childrenMax = item.value;
        break;
      case 'securelevel':
        securelevel = item.value;
        break;
      default:
        break;
    }
  }
  const modes = {} as Record<SysvipcClass, SysvipcMode>;
  for (const c of SYSVIPC_CLASSES) modes[c] = sysvipc[c] ?? (e.sysvipc[c].has('new') ? 'new' : 'disable');
  return {
    granted: {
      items,
      overrides,
      devfs,
      allow: [...allow].sort(),
      sysvipc: modes,
      vnet,
      childrenMax,
      securelevel,
    },
    refusals,
    decisions,
    unusedGrants: (ctx.grants ?? []).filter((_, i) => !used.has(i)),
    matchedImages: matched,
  };
}

/**
 * The --grant values that cover nothing the image requests and no bind mount (`binds`, host
 * paths) or published host port of the run: a grant that could never take effect.
 */
export function unrequestedGrants(
  requested: RequestedPrivileges,
  grants: readonly string[],
  run: { binds?: readonly string[]; ports?: readonly number[] } = {},
): string[] {
  const items: PrivilegeItem[] = [
    ...privilegeItems(requested),
    ...(run.binds ?? []).map((path): PrivilegeItem => ({ kind: 'bind', path })),
    ...(run.ports ?? []).map((port): PrivilegeItem => ({ kind: 'port', port })),
  ];
  return grants.filter((g) => {
    const p = parseGrant(g);
    return !items.some((i) => covers(p, i));
  });
}

/** Check one host path to bind-mount; undefined when permitted (by policy or --grant bind:PATH). */
export function checkBindMount(
  hostPath: string,
  policy: Policy,
  imageRef?: string,
  grants: readonly string[] = [],
): Refusal | undefined {
  if (!hostPath.startsWith('/'))
    throw new BrigError('ERR_MOUNT_INVALID', `bind mount source "${hostPath}" is not an absolute host path`);
  const path = posix.normalize(hostPath).replace(/(.)\/$/, '$1');
  return checkItem({ kind: 'bind', path }, policy, imageRef, grants);
}

/** Check one host port to publish; undefined when permitted (by policy or --grant port=N). */
export function checkPort(
  hostPort: number,
  policy: Policy,
  imageRef?: string,
  grants: readonly string[] = [],
): Refusal | undefined {
  if (!Number.isInteger(hostPort) || hostPort < 1 || hostPort > 65535)
    throw new BrigError('ERR_INVALID_ARGUMENT', `host port ${hostPort} is not within 1..65535`);
  return checkItem({ kind: 'port', port: hostPort }, policy, imageRef, grants);
}

/** The refusal of one item under the policy and --grant items, undefined when it is permitted. */
function checkItem(
  item: PrivilegeItem,
  policy: Policy,
  imageRef: string | undefined,
  grants: readonly string[],
): Refusal | undefined {
  const d = decide(
    item,
    effective(policy, matchingImages(policy, imageRef)),
    grants.map(parseGrant),
    new Set(),
  );
  return d.granted ? undefined : d.refusal;
}

/** ERR_PRIVILEGE_REFUSED listing every refusal with its fix (details.refusals for the API). */
export function refusalError(
  refusals: readonly Refusal[],
  imageRef?: string,
  opts: { atStart?: boolean } = {},
): BrigError {
  // at start (the policy narrowed since create) --grant is not an option of `brig start`
  const fix = (r: Refusal) => {
    const pass = `, or pass --grant ${shellWord(r.item)}`;
    return opts.atStart && r.fix.endsWith(pass)
      ? `${r.fix.slice(0, -pass.length)}, or recreate the container with --grant ${shellWord(r.item)}`
      : r.fix;
  };
  const lines = refusals.map((r) => `  ${r.item}: ${r.reason}; ${fix(r)}`);
  return new BrigError(
    'ERR_PRIVILEGE_REFUSED',
    `the host policy refuses ${refusals.length === 1 ? 'a privilege' : `${refusals.length} privileges`}${imageRef ? ` of ${imageRef}` : ''}:\n${lines.join('\n')}`,
    { details: { refusals: refusals.map((r) => ({ ...r, fix: fix(r) })) } },
  );
}

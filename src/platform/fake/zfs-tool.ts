/**
 * zfs(8) on the simulated host: create, snapshot, clone, destroy, list, get, set, inherit,
 * promote, rename, mount, unmount, diff.
 *
 * Modelled: the dataset tree (a filesystem needs its parent; `-p` creates parents), snapshots and
 * clones (`origin`, dependent clones block `destroy` without `-R`, children block it without
 * `-r`), property inheritance (mountpoint follows the parent unless set locally), mounting
 * (a filesystem with canmount=on and a path mountpoint is mounted at create; it appears in
 * mount(8)'s list), busy unmounts (something mounted beneath, or a jail with processes rooted
 * inside), and `zfs diff` when the host keeps snapshot contents (HostConfig.contentDir): a
 * snapshot then copies the mountpoint's real directory, a clone starts as a copy of its origin,
 * and diff compares the trees (type, mode, size, mtime, content). Renames are not detected
 * by that comparison (they show as - and +); the parser of real output handles R lines.
 */
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import type { DatasetState, HostState } from './host-state.ts';
import { unmountEntry } from './mount-tools.ts';
import {
  die,
  getopt,
  has,
  isUnder,
  ok,
  optVal,
  optVals,
  type ToolContext,
  type ToolOutput,
  uint,
} from './tool.ts';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*(@[A-Za-z0-9_.:-]+)?$/;

const DEFAULTS: Record<string, string> = {
  canmount: 'on',
  compression: 'off',
  atime: 'on',
  readonly: 'off',
  quota: 'none',
  refquota: 'none',
  reservation: 'none',
  recordsize: '128K',
  exec: 'on',
  setuid: 'on',
  devices: 'on',
  snapdir: 'hidden',
  checksum: 'on',
  sync: 'standard',
  xattr: 'on',
  copies: '1',
  dedup: 'off',
};
const NOT_INHERITED = new Set(['canmount', 'quota', 'refquota', 'reservation']);
const ON_OFF = /^(on|off)$/;
const SIZE = /^(none|\d+(\.\d+)?[KMGTPE]?)$/i;
const VALIDATORS: Record<string, [RegExp, string]> = {
  canmount: [/^(on|off|noauto)$/, "'canmount' must be one of 'on | off | noauto'"],
  compression: [
    /^(on|off|lz4|lzjb|zle|gzip(-[1-9])?|zstd(-([1-9]|1[0-9]))?|zstd-fast(-\d+)?)$/,
    "'compression' must be one of 'on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | zstd-fast-[1-10,20,30,40,50,60,70,80,90,100,500,1000]'",
  ],
  atime: [ON_OFF, "'atime' must be one of 'on | off'"],
  readonly: [ON_OFF, "'readonly' must be one of 'on | off'"],
  exec: [ON_OFF, "'exec' must be one of 'on | off'"],
  setuid: [ON_OFF, "'setuid' must be one of 'on | off'"],
  devices: [ON_OFF, "'devices' must be one of 'on | off'"],
  xattr: [/^(on|off|sa|dir)$/, "'xattr' must be one of 'on | off | dir | sa'"],
  snapdir: [/^(hidden|visible)$/, "'snapdir' must be one of 'hidden | visible'"],
  quota: [SIZE, 'bad numeric value'],
  refquota: [SIZE, 'bad numeric value'],
  reservation: [SIZE, 'bad numeric value'],
  recordsize: [
    /^(512|1K|2K|4K|8K|16K|32K|64K|128K|256K|512K|1M)$/i,
    "'recordsize' must be a power of 2 from 512B to 1M",
  ],
  checksum: [
    /^(on|off|fletcher2|fletcher4|sha256|sha512|skein)$/,
    "'checksum' must be one of 'on | off | fletcher2 | fletcher4 | sha256 | sha512 | skein'",
  ],
  sync: [/^(standard|always|disabled)$/, "'sync' must be one of 'standard | always | disabled'"],
  copies: [/^[123]$/, "'copies' must be one of '1 | 2 | 3'"],
  dedup: [
    /^(on|off|sha256|verify)$/,
    "'dedup' must be one of 'on | off | verify | sha256[,verify] | sha512[,verify] | skein[,verify]'",
  ],
  mountpoint: [/^(none|legacy|\/.*)$/, "'mountpoint' must be an absolute path, 'none', or 'legacy'"],
};
const READONLY_PROPS = new Set([
  'type',
  'creation',
  'used',
  'available',
  'avail',
  'referenced',
  'refer',
  'mounted',
  'origin',
  'guid',
  'createtxg',
  'name',
  'clones',
  'compressratio',
  'written',
  'usedbysnapshots',
]);

const parentOf = (n: string) =>
  n.includes('@') ? n.slice(0, n.indexOf('@')) : n.includes('/') ? n.slice(0, n.lastIndexOf('/')) : undefined;
const poolOf = (n: string) => n.split(/[/@]/)[0]!;

function validProp(prop: string, value: string, what: string): void {
  if (prop.includes(':')) {
    if (value.length > 8191) die(`cannot set property for '${what}': property value too long`);
    return;
  }
  if (READONLY_PROPS.has(prop)) die(`cannot set property for '${what}': '${prop}' is readonly`);
  const v = VALIDATORS[prop];
  if (!v) die(`cannot set property for '${what}': invalid property '${prop}'`);
  if (!v[0].test(value)) die(`cannot set property for '${what}': ${v[1]}`);
}

function parseProps(list: string[], what: string): Record<string, string> {
  const props: Record<string, string> = {};
  for (const pv of list) {
    const eq = pv.indexOf('=');
    if (eq <= 0) die(`missing '=' for property=value argument`);
    const k = pv.slice(0, eq);
    const v = pv.slice(eq + 1);
    validProp(k, v, what);
    props[k] = v;
  }
  return props;
}

/** The effective value and source of a property, following inheritance. */
export function propOf(st: HostState, ds: DatasetState, prop: string): { value: string; source: string } {
  const p = prop === 'avail' ? 'available' : prop === 'refer' ? 'referenced' : prop;
  switch (p) {
    case 'name':
      return { value: ds.name, source: '-' };
    case 'type':
      return { value: ds.type, source: '-' };
    case 'creation':
      return { value: ctimeLike(ds.creation), source: '-' };
    case 'guid':
      return { value: ds.guid, source: '-' };
    case 'createtxg':
      return { value: String(ds.createtxg), source: '-' };
    case 'used':
      return { value: '96K', source: '-' };
    case 'available':
      return { value: ds.type === 'snapshot' ? '-' : '10.0G', source: '-' };
    case 'referenced':
      return { value: '96K', source: '-' };
    case 'compressratio':
      return { value: '1.00x', source: '-' };
    case 'mounted':
      return { value: ds.type === 'snapshot' ? '-' : ds.mounted ? 'yes' : 'no', source: '-' };
    case 'origin':
      return { value: ds.origin ?? '-', source: '-' };
    case 'clones':
      return {
        value:
          ds.type === 'snapshot'
            ? Object.values(st.datasets)
                .filter((d) => d.origin === ds.name)
                .map((d) => d.name)
                .sort()
                .join(',')
            : '-',
        source: '-',
      };
    default:
      break;
  }
  if (ds.type === 'snapshot' && (p === 'mountpoint' || p === 'canmount' || p === 'quota' || p === 'readonly'))
    return { value: '-', source: '-' };
  if (ds.props[p] !== undefined) return { value: ds.props[p]!, source: 'local' };
  if (p === 'mountpoint') {
    const parent = ds.name.includes('/') ? st.datasets[parentOf(ds.name)!] : undefined;
    if (!parent) return { value: `/${ds.name}`, source: 'default' };
    const pv = propOf(st, parent, 'mountpoint');
    const inherited =
      pv.value === 'none' || pv.value === 'legacy'
        ? pv.value
        : `${pv.value === '/' ? '' : pv.value}/${ds.name.slice(parent.name.length + 1)}`;
    const from =
      pv.source === 'local'
        ? parent.name
        : pv.source.startsWith('inherited from ')
          ? pv.source.slice(15)
          : undefined;
    return { value: inherited, source: from ? `inherited from ${from}` : 'default' };
  }
  if (!NOT_INHERITED.has(p) || p.includes(':')) {
    let cur =
      ds.type === 'snapshot'
        ? st.datasets[parentOf(ds.name)!]
        : ds.name.includes('/')
          ? st.datasets[parentOf(ds.name)!]
          : undefined;
    if (ds.type === 'snapshot' && cur?.props[p] !== undefined)
      return { value: cur.props[p]!, source: `inherited from ${cur.name}` };
    if (ds.type === 'snapshot') cur = cur?.name.includes('/') ? st.datasets[parentOf(cur.name)!] : undefined;
    while (cur) {
      if (cur.props[p] !== undefined) return { value: cur.props[p]!, source: `inherited from ${cur.name}` };
      cur = cur.name.includes('/') ? st.datasets[parentOf(cur.name)!] : undefined;
    }
  }
  if (p in DEFAULTS) return { value: DEFAULTS[p]!, source: 'default' };
  if (p.includes(':')) return { value: '-', source: '-' };
  return { value: '-', source: '-' };
}

/** zfs prints creation as strftime("%a %b %e %H:%M %Y") in local time; UTC here. */
function ctimeLike(seconds: number): string {
  const d = new Date(seconds * 1000);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()]!;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    d.getUTCMonth()
  ]!;
  const hh = String(d.getUTCHours()).padStart(2, '0');
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  return `${day} ${mon} ${String(d.getUTCDate()).padStart(2)} ${hh}:${mm} ${d.getUTCFullYear()}`;
}

const UNITS: Record<string, number> = {
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
  E: 2 ** 60,
};

/** `-p`: exact numbers instead of 96K, and seconds for creation. */
function parsable(value: string, p: boolean, prop: string, ds: DatasetState): string {
  if (!p) return value;
  if (prop === 'creation') return String(ds.creation);
  const m = /^(\d+(?:\.\d+)?)([KMGTPE])$/.exec(value);
  if (m && prop !== 'name' && prop !== 'mountpoint' && !prop.includes(':')) {
    return String(Math.round(Number(m[1]) * UNITS[m[2]!]!));
  }
  if (prop === 'compressratio' && value.endsWith('x')) return value.slice(0, -1);
  return value;
}

function newGuid(st: HostState): string {
  st.counters.guid += 1;
  return String(BigInt(st.counters.guid) * 2654435761n + 1000000007n);
}

function nextTxg(st: HostState): number {
  st.counters.txg += 1;
  return st.counters.txg;
}

/** Records a new dataset in the tree with a fresh guid and txg; the caller mounts it if it should be. */
function addDataset(
  ctx: ToolContext,
  name: string,
  type: DatasetState['type'],
  props: Record<string, string>,
  origin?: string,
): DatasetState {
  const ds: DatasetState = {
    name,
    type,
    guid: newGuid(ctx.st),
    createtxg: nextTxg(ctx.st),
    creation: Math.floor(ctx.now() / 1000),
    props,
    ...(origin === undefined ? {} : { origin }),
    mounted: false,
  };
  ctx.st.datasets[name] = ds;
  return ds;
}

/** The ancestors of `name` that do not exist yet, outermost first (what `-p` creates). */
function missingParents(st: HostState, name: string): string[] {
  const missing: string[] = [];
  for (let p = parentOf(name); p && !st.datasets[p]; p = parentOf(p)) missing.unshift(p);
  return missing;
}

/** Moves `ds` to `newName`, repointing the clones whose origin it is. */
function renameDataset(st: HostState, ds: DatasetState, newName: string): void {
  delete st.datasets[ds.name];
  for (const d of Object.values(st.datasets)) if (d.origin === ds.name) d.origin = newName;
  ds.name = newName;
  st.datasets[newName] = ds;
}

/** zfs list/get's table: upper-case headings, columns padded to their widest cell but the last. */
function table(fields: readonly string[], rows: readonly string[][]): string {
  const head = fields.map((f) => f.toUpperCase());
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (row: readonly string[]) =>
    `${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}\n`;
  return fmt(head) + rows.map(fmt).join('');
}

function mountpointPath(st: HostState, ds: DatasetState): string | undefined {
  const mp = propOf(st, ds, 'mountpoint').value;
  return mp.startsWith('/') ? mp : undefined;
}

/** Mounts `ds` if canmount=on and it has a path mountpoint. */
function autoMount(ctx: ToolContext, ds: DatasetState): void {
  const st = ctx.st;
  const mp = mountpointPath(st, ds);
  if (!mp || propOf(st, ds, 'canmount').value !== 'on' || ds.mounted) return;
  mountDataset(ctx, ds, mp);
}

function mountDataset(ctx: ToolContext, ds: DatasetState, mp: string): void {
  const st = ctx.st;
  if (st.mounts.some((m) => m.target === mp && m.fstype === 'zfs'))
    die(`cannot mount '${mp}': directory is not empty`);
  ds.mounted = true;
  st.mounts.push({ fstype: 'zfs', source: ds.name, target: mp, options: [] });
  if (!st.paths.includes(mp)) st.paths.push(mp);
  if (ctx.canWrite(mp)) ctx.effects.push(() => mkdirSync(mp, { recursive: true }));
}

function unmountDataset(ctx: ToolContext, ds: DatasetState, force: boolean): void {
  const st = ctx.st;
  const m = st.mounts.find((x) => x.fstype === 'zfs' && x.source === ds.name);
  if (!m) {
    ds.mounted = false;
    return;
  }
  const err = unmountEntry(st, m, force);
  if (err) die(`cannot unmount '${m.target}': pool or dataset is busy`);
  st.paths = st.paths.filter((p) => p !== m.target);
  ds.mounted = false;
}

function children(st: HostState, name: string): DatasetState[] {
  return Object.values(st.datasets)
    .filter((d) => d.name.startsWith(`${name}/`) || d.name.startsWith(`${name}@`))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

function need(st: HostState, name: string): DatasetState {
  const ds = st.datasets[name];
  if (!ds)
    die(`cannot open '${name}': ${NAME_RE.test(name) ? 'dataset does not exist' : 'invalid dataset name'}`);
  return ds;
}

const USAGE = `usage: zfs command args ...
where 'command' is one of the following:

	create [-Pnpuv] [-o property=value] ... <filesystem>
	destroy [-fnpRrv] <filesystem|volume>
	destroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]
	snapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...
	rollback [-rRf] <snapshot>
	clone [-p] [-o property=value] ... <snapshot> <filesystem|volume>
	promote <clone-filesystem>
	rename [-f] <filesystem|volume|snapshot> <filesystem|volume|snapshot>
	list [-Hp] [-r|-d max] [-o property[,...]] [-s property]...
	    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...
	set <property=value> ... <filesystem|volume|snapshot> ...
	get [-rHp] [-d max] [-o "all" | field[,...]]
	    [-t type[,...]] [-s source[,...]]
	    <"all" | property[,...]> [filesystem|volume|snapshot|bookmark] ...
	inherit [-rS] <property> <filesystem|volume|snapshot> ...
	mount [-fvO] [-o opts] <-a | filesystem>
	unmount [-fu] <-a | filesystem|mountpoint>
	diff [-FHth] <snapshot> [snapshot|filesystem]`;

/** Exactly `n` operands, or zfs's usage error: `missing` when too few, else "too many arguments". */
function operands(rest: readonly string[], n: number, missing: string): readonly string[] {
  if (rest.length !== n) die(`${rest.length < n ? missing : 'too many arguments'}\n${USAGE}`, 2);
  return rest;
}

export function zfsTool(ctx: ToolContext, args: string[]): ToolOutput {
  const st = ctx.st;
  const sub = args[0];
  if (sub === undefined) die(`missing command\n${USAGE}`, 2);
  const rest = args.slice(1);
  switch (sub) {
    case 'create': {
      const r = getopt(rest, 'Pno:puvV:bs', 'zfs create', USAGE);
      if (has(r, 'V')) die('zfs: simulated host: volumes are not simulated');
      const [name] = operands(r.rest, 1, 'missing filesystem argument') as [string];
      if (!NAME_RE.test(name) || name.includes('@'))
        die(`cannot create '${name}': invalid character in name`);
      if (!st.datasets[poolOf(name)]) die(`cannot create '${name}': no such pool '${poolOf(name)}'`);
      if (st.datasets[name]) die(`cannot create '${name}': dataset already exists`);
      const props = parseProps(optVals(r, 'o'), name);
      const missing = missingParents(st, name);
      if (missing.length && !has(r, 'p')) die(`cannot create '${name}': parent does not exist`);
      if (has(r, 'n')) return ok();
      for (const p of [...missing, name]) {
        const ds = addDataset(ctx, p, 'filesystem', p === name ? props : {});
        if (!has(r, 'u')) autoMount(ctx, ds);
      }
      return ok();
    }
    case 'snapshot':
    case 'snap': {
      const r = getopt(rest, 'o:r', 'zfs snapshot', USAGE);
      if (r.rest.length === 0) die(`missing snapshot argument\n${USAGE}`, 2);
      const props = parseProps(optVals(r, 'o'), r.rest[0]!);
      for (const snap of r.rest) {
        const at = snap.indexOf('@');
        if (at < 0 || !NAME_RE.test(snap))
          die(
            `cannot create snapshot '${snap}': ${at < 0 ? "missing '@' delimiter in snapshot name" : 'invalid character in name'}`,
          );
        const fsName = snap.slice(0, at);
        const fs = st.datasets[fsName];
        if (fs?.type !== 'filesystem')
          die(
            `cannot open '${fsName}': dataset does not exist\nusage:\n\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...`,
          );
        const targets = has(r, 'r')
          ? [fs, ...children(st, fsName).filter((d) => d.type === 'filesystem')]
          : [fs];
        for (const t of targets) {
          const sname = `${t.name}${snap.slice(at)}`;
          if (st.datasets[sname]) die(`cannot create snapshot '${sname}': dataset already exists`);
          captureSnapshot(ctx, t, addDataset(ctx, sname, 'snapshot', { ...props }));
        }
      }
      return ok();
    }
    case 'clone': {
      const r = getopt(rest, 'o:pu', 'zfs clone', USAGE);
      const [snapName, target] = operands(r.rest, 2, 'missing arguments') as [string, string];
      const snap = need(st, snapName);
      if (snap.type !== 'snapshot') die(`cannot open '${snapName}': operation only applies to snapshots`);
      if (!NAME_RE.test(target) || target.includes('@'))
        die(`cannot create '${target}': invalid character in name`);
      if (st.datasets[target]) die(`cannot create '${target}': dataset already exists`);
      if (poolOf(target) !== poolOf(snapName))
        die(`cannot create '${target}': source and target pools differ`);
      const missing = missingParents(st, target);
      if (missing.length && !has(r, 'p')) die(`cannot create '${target}': parent does not exist`);
      const props = parseProps(optVals(r, 'o'), target);
      for (const p of missing) autoMount(ctx, addDataset(ctx, p, 'filesystem', {}));
      const ds = addDataset(ctx, target, 'filesystem', props, snapName);
      if (!has(r, 'u')) autoMount(ctx, ds);
      restoreContent(ctx, snap, ds);
      return ok();
    }
    case 'destroy': {
      const r = getopt(rest, 'dfnpRrv', 'zfs destroy', USAGE);
      const [name] = operands(r.rest, 1, 'missing dataset argument') as [string];
      const ds = need(st, name);
      if (!name.includes('/') && !name.includes('@'))
        die(
          `cannot destroy '${name}': operation does not apply to pools\nuse 'zfs destroy -r ${name}' to destroy all datasets in the pool\nuse 'zpool destroy ${name}' to destroy the pool itself`,
        );
      const recursive = has(r, 'r') || has(r, 'R');
      let victims = ds.type === 'snapshot' ? [ds] : [ds, ...children(st, name)];
      if (ds.type === 'filesystem' && !recursive && victims.length > 1)
        die(
          `cannot destroy '${name}': filesystem has children\nuse '-r' to destroy the following datasets:\n${victims
            .slice(1)
            .map((d) => d.name)
            .join('\n')}`,
        );
      const dependents = (set: DatasetState[]) => {
        const names = new Set(set.map((d) => d.name));
        const out: DatasetState[] = [];
        for (const d of Object.values(st.datasets)) {
          if (d.origin && names.has(d.origin) && !names.has(d.name)) out.push(d, ...children(st, d.name));
        }
        return out;
      };
      let deps = dependents(victims);
      if (deps.length && !has(r, 'R'))
        die(
          `cannot destroy '${name}': ${ds.type === 'snapshot' ? 'snapshot' : 'filesystem'} has dependent clones\nuse '-R' to destroy the following datasets:\n${deps
            .map((d) => d.name)
            .sort()
            .join('\n')}`,
        );
      while (deps.length) {
        victims = [...victims, ...deps];
        deps = dependents(victims);
      }
      if (has(r, 'n')) return ok(has(r, 'v') ? victims.map((d) => `would destroy ${d.name}\n`).join('') : '');
      // Unmount deepest first, as zfs does; any busy mount fails the whole command.
      const fss = victims
        .filter((d) => d.type === 'filesystem')
        .sort((a, b) => b.name.length - a.name.length);
      for (const f of fss) {
        // The dataset's files go with it; libzfs also removes the mountpoint directory it made.
        const mp = mountpointPath(st, f);
        unmountDataset(ctx, f, has(r, 'f'));
        if (mp && ctx.canWrite(mp)) ctx.effects.push(() => rmSync(mp, { recursive: true, force: true }));
      }
      for (const v of victims) {
        delete st.datasets[v.name];
        dropContent(ctx, v);
      }
      return ok(has(r, 'v') ? victims.map((d) => `will destroy ${d.name}\n`).join('') : '');
    }
    case 'list': {
      const r = getopt(rest, 'Hpo:rd:s:S:t:', 'zfs list', USAGE);
      const fields = (optVal(r, 'o') ?? 'name,used,avail,refer,mountpoint').split(',');
      const types = (optVal(r, 't') ?? (r.rest.length ? 'all' : 'filesystem'))
        .split(',')
        .map((t) => (t === 'snap' ? 'snapshot' : t));
      for (const t of types)
        if (!['filesystem', 'snapshot', 'volume', 'bookmark', 'all'].includes(t))
          die(`invalid type '${t}'\n${USAGE}`, 2);
      const depth = optVal(r, 'd') !== undefined ? uint(optVal(r, 'd')) : has(r, 'r') ? Infinity : undefined;
      const want = (d: DatasetState) => types.includes('all') || types.includes(d.type);
      let rows: DatasetState[] = [];
      if (r.rest.length === 0) rows = Object.values(st.datasets).filter(want);
      for (const n of r.rest) {
        const ds = need(st, n);
        if (depth === undefined) rows.push(ds);
        else {
          const base = n.split('/').length;
          rows.push(
            ...[ds, ...children(st, n)].filter(
              (d) => (d === ds || want(d)) && d.name.split('/').length - base <= depth,
            ),
          );
        }
      }
      const sortKey = optVal(r, 's') ?? 'name';
      rows = [...new Set(rows)].sort((a, b) => {
        const av = sortKey === 'name' ? a.name : propOf(st, a, sortKey).value;
        const bv = sortKey === 'name' ? b.name : propOf(st, b, sortKey).value;
        return av < bv ? -1 : av > bv ? 1 : 0;
      });
      const cells = rows.map((d) => fields.map((f) => parsable(propOf(st, d, f).value, has(r, 'p'), f, d)));
      if (has(r, 'H')) return ok(cells.map((row) => `${row.join('\t')}\n`).join(''));
      if (rows.length === 0) return ok('', 'no datasets available\n');
      return ok(table(fields, cells));
    }
    case 'get': {
      const r = getopt(rest, 'rHpd:o:t:s:', 'zfs get', USAGE);
      if (r.rest.length === 0) die(`missing property argument\n${USAGE}`, 2);
      const props = r.rest[0]!.split(',');
      const names = r.rest.slice(1);
      const fields = (optVal(r, 'o') ?? 'name,property,value,source').split(',');
      for (const f of fields)
        if (!['name', 'property', 'value', 'received', 'source', 'all'].includes(f))
          die(`invalid field '${f}'`, 2);
      let rows: DatasetState[] = names.length ? names.map((n) => need(st, n)) : Object.values(st.datasets);
      if (has(r, 'r')) rows = rows.flatMap((d) => [d, ...children(st, d.name)]);
      rows = [...new Set(rows)].sort((a, b) => (a.name < b.name ? -1 : 1));
      const allProps = [
        'type',
        'creation',
        'used',
        'available',
        'referenced',
        'compressratio',
        'mounted',
        'origin',
        'quota',
        'reservation',
        'recordsize',
        'mountpoint',
        'checksum',
        'compression',
        'atime',
        'devices',
        'exec',
        'setuid',
        'readonly',
        'snapdir',
        'canmount',
        'xattr',
        'copies',
        'guid',
        'createtxg',
        'sync',
        'dedup',
      ];
      const lines: string[][] = [];
      for (const d of rows) {
        const list = props.includes('all')
          ? [...allProps, ...Object.keys(d.props).filter((k) => k.includes(':'))]
          : props;
        for (const p of list) {
          if (!p.includes(':') && !(p in VALIDATORS) && !READONLY_PROPS.has(p) && !(p in DEFAULTS))
            die(`bad property list: invalid property '${p}'\n${USAGE}`, 2);
          const pv = propOf(st, d, p);
          const v = { ...pv, value: parsable(pv.value, has(r, 'p'), p, d) };
          const row = fields.flatMap((f) =>
            f === 'all'
              ? [d.name, p, v.value, '-', v.source]
              : f === 'name'
                ? [d.name]
                : f === 'property'
                  ? [p]
                  : f === 'value'
                    ? [v.value]
                    : f === 'received'
                      ? ['-']
                      : [v.source],
          );
          lines.push(row);
        }
      }
      if (has(r, 'H')) return ok(lines.map((l) => `${l.join('\t')}\n`).join(''));
      return ok(table(fields, lines));
    }
    case 'set': {
      if (rest.length < 2)
        die(`missing ${rest.length ? 'dataset name' : 'property=value argument(s)'}\n${USAGE}`, 2);
      const pvs = rest.filter((a) => a.includes('='));
      const names = rest.filter((a) => !a.includes('='));
      if (names.length === 0) die(`missing dataset name\n${USAGE}`, 2);
      for (const n of names) {
        const ds = need(st, n);
        const props = parseProps(pvs, n);
        const mpBefore = ds.type === 'filesystem' ? mountpointPath(st, ds) : undefined;
        const affected = [ds, ...children(st, n).filter((d) => d.type === 'filesystem')].filter(
          (d) => d.mounted,
        );
        if ('mountpoint' in props || 'canmount' in props)
          for (const d of affected.reverse()) unmountDataset(ctx, d, false);
        Object.assign(ds.props, props);
        if ('mountpoint' in props || 'canmount' in props) {
          for (const d of [ds, ...children(st, n).filter((x) => x.type === 'filesystem')])
            if (mpBefore !== undefined || d !== ds) autoMount(ctx, d);
          if (mpBefore === undefined) autoMount(ctx, ds);
        }
      }
      return ok();
    }
    case 'inherit': {
      const r = getopt(rest, 'rS', 'zfs inherit', USAGE);
      if (r.rest.length < 2) die(`missing ${r.rest.length ? 'dataset' : 'property'} argument\n${USAGE}`, 2);
      const prop = r.rest[0]!;
      for (const n of r.rest.slice(1)) {
        const ds = need(st, n);
        if (READONLY_PROPS.has(prop) || (!prop.includes(':') && !(prop in VALIDATORS)))
          die(`invalid property '${prop}'`);
        for (const d of has(r, 'r') ? [ds, ...children(st, n)] : [ds]) delete d.props[prop];
      }
      return ok();
    }
    case 'promote': {
      if (rest.length !== 1)
        die(`${rest.length ? 'too many arguments' : 'missing clone filesystem argument'}\n${USAGE}`, 2);
      const clone = need(st, rest[0]!);
      if (!clone.origin) die(`cannot promote '${clone.name}': not a cloned filesystem`);
      const origin = st.datasets[clone.origin]!;
      const originFs = parentOf(origin.name)!;
      const moving = Object.values(st.datasets).filter(
        (d) => d.type === 'snapshot' && parentOf(d.name) === originFs && d.createtxg <= origin.createtxg,
      );
      for (const m of moving) {
        const newName = `${clone.name}${m.name.slice(m.name.indexOf('@'))}`;
        if (st.datasets[newName])
          die(
            `cannot promote '${clone.name}': snapshot name '${newName.slice(newName.indexOf('@'))}' from origin conflicts with '${newName}' from target`,
          );
      }
      const oldOrigin = st.datasets[originFs]!.origin;
      for (const m of moving) renameDataset(st, m, `${clone.name}${m.name.slice(m.name.indexOf('@'))}`);
      st.datasets[originFs]!.origin = `${clone.name}${origin.name.slice(origin.name.indexOf('@'))}`;
      if (oldOrigin) clone.origin = oldOrigin;
      else delete clone.origin;
      return ok();
    }
    case 'rename': {
      const r = getopt(rest, 'fpur', 'zfs rename', USAGE);
      const [from, toRaw] = operands(r.rest, 2, 'missing arguments') as [string, string];
      const ds = need(st, from);
      const to = ds.type === 'snapshot' && !toRaw.includes('@') ? `${parentOf(from)}@${toRaw}` : toRaw;
      if (!NAME_RE.test(to)) die(`cannot rename to '${to}': invalid character in name`);
      if (st.datasets[to]) die(`cannot rename to '${to}': dataset already exists`);
      if (ds.type === 'snapshot' && parentOf(to) !== parentOf(from))
        die(`cannot rename to '${to}': snapshots must be part of same dataset`);
      if (ds.type === 'filesystem' && (poolOf(to) !== poolOf(from) || !st.datasets[parentOf(to) ?? ''])) {
        if (!has(r, 'p') || poolOf(to) !== poolOf(from))
          die(
            `cannot rename to '${to}': ${poolOf(to) !== poolOf(from) ? 'datasets must be within same pool' : 'parent does not exist'}`,
          );
      }
      if (isUnder(to.replace(/@.*/, ''), from) && ds.type === 'filesystem')
        die(`cannot rename to '${to}': New dataset name cannot be a descendant of current dataset name`);
      const moved = ds.type === 'snapshot' ? [ds] : [ds, ...children(st, from)];
      const mountedBefore = moved.filter((d) => d.mounted);
      for (const d of [...mountedBefore].reverse()) unmountDataset(ctx, d, has(r, 'f'));
      for (const d of moved) renameDataset(st, d, to + d.name.slice(from.length));
      if (!has(r, 'u')) for (const d of mountedBefore) autoMount(ctx, d);
      return ok();
    }
    case 'mount': {
      const r = getopt(rest, 'afvOo:l', 'zfs mount', USAGE);
      if (r.rest.length === 0 && !has(r, 'a')) {
        return ok(
          st.mounts
            .filter((m) => m.fstype === 'zfs')
            .map((m) => `${m.source.padEnd(27)}  ${m.target}\n`)
            .join(''),
        );
      }
      const list = has(r, 'a')
        ? Object.values(st.datasets).filter((d) => d.type === 'filesystem' && !d.mounted)
        : r.rest.map((n) => need(st, n));
      for (const d of list) {
        if (d.type !== 'filesystem') die(`cannot open '${d.name}': operation only applies to filesystems`);
        if (d.mounted && !has(r, 'a')) die(`cannot mount '${d.name}': filesystem already mounted`);
        const mp = mountpointPath(st, d);
        if (!mp) {
          if (has(r, 'a')) continue;
          die(
            `cannot mount '${d.name}': ${propOf(st, d, 'mountpoint').value === 'legacy' ? 'legacy mountpoint\nuse mount(8) to mount this filesystem' : 'no mountpoint set'}`,
          );
        }
        if (propOf(st, d, 'canmount').value === 'off') {
          if (has(r, 'a')) continue;
          die(`cannot mount '${d.name}': 'canmount' property is set to 'off'`);
        }
        if (has(r, 'a') && propOf(st, d, 'canmount').value === 'noauto') continue;
        mountDataset(ctx, d, mp);
      }
      return ok();
    }
    case 'unmount':
    case 'umount': {
      const r = getopt(rest, 'afu', 'zfs unmount', USAGE);
      const [arg] = operands(r.rest, 1, 'missing filesystem argument') as [string];
      const ds = arg.startsWith('/')
        ? st.datasets[st.mounts.find((m) => m.fstype === 'zfs' && m.target === arg)?.source ?? '']
        : need(st, arg);
      if (!ds) die(`cannot unmount '${arg}': not a ZFS filesystem`);
      if (!ds.mounted) die(`cannot unmount '${ds.name}': not currently mounted`);
      unmountDataset(ctx, ds, has(r, 'f'));
      return ok();
    }
    case 'diff':
      return zfsDiff(ctx, rest);
    default:
      return die(`unrecognized command '${sub}'\n${USAGE}`, 2);
  }
}

// ---- snapshot content (only with HostConfig.contentDir) -------------------------------------

function contentPath(ctx: ToolContext, ds: DatasetState): string | undefined {
  return ctx.contentDir ? join(ctx.contentDir, ds.guid) : undefined;
}

function captureSnapshot(ctx: ToolContext, fs: DatasetState, snap: DatasetState): void {
  const dest = contentPath(ctx, snap);
  const mp = mountpointPath(ctx.st, fs);
  if (!dest || !mp || !fs.mounted) return;
  ctx.effects.push(() => {
    if (existsSync(mp))
      cpSync(mp, dest, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    else mkdirSync(dest, { recursive: true });
  });
}

function restoreContent(ctx: ToolContext, snap: DatasetState, clone: DatasetState): void {
  const src = contentPath(ctx, snap);
  const mp = mountpointPath(ctx.st, clone);
  if (!src || !mp || !ctx.canWrite(mp)) return;
  ctx.effects.push(() => {
    if (existsSync(src))
      cpSync(src, mp, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  });
}

function dropContent(ctx: ToolContext, ds: DatasetState): void {
  const p = contentPath(ctx, ds);
  if (p && ds.type === 'snapshot') ctx.effects.push(() => rmSync(p, { recursive: true, force: true }));
}

interface Entry {
  type: string;
  mode: number;
  size: number;
  mtime: number;
  digest: string;
}

function walk(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (rel: string) => {
    const abs = rel ? join(root, rel) : root;
    for (const n of readdirSync(abs)) {
      const r = rel ? `${rel}/${n}` : n;
      const s = lstatSync(join(root, r));
      const type = s.isDirectory()
        ? '/'
        : s.isSymbolicLink()
          ? '@'
          : s.isFIFO()
            ? '|'
            : s.isSocket()
              ? '='
              : s.isBlockDevice()
                ? 'B'
                : s.isCharacterDevice()
                  ? 'C'
                  : 'F';
      const digest =
        type === 'F'
          ? createHash('sha256')
              .update(readFileSync(join(root, r)))
              .digest('hex')
          : type === '@'
            ? readlinkSync(join(root, r))
            : '';
      out.set(r, { type, mode: s.mode, size: s.size, mtime: s.mtimeMs, digest });
      if (type === '/') visit(r);
    }
  };
  if (existsSync(root)) visit('');
  return out;
}

/** Escapes a path the way zfs diff prints it: `\0ooo` for bytes outside printable ASCII, space, backslash. */
export function zfsEscape(path: Buffer): string {
  let s = '';
  for (const b of path) {
    if (b > 0x20 && b < 0x7f && b !== 0x5c) s += String.fromCharCode(b);
    else s += `\\0${b.toString(8).padStart(3, '0')}`;
  }
  return s;
}

function zfsDiff(ctx: ToolContext, args: string[]): ToolOutput {
  const st = ctx.st;
  const r = getopt(args, 'FHth', 'zfs diff', USAGE);
  if (r.rest.length < 1 || r.rest.length > 2)
    die(`${r.rest.length ? 'too many arguments' : 'must provide at least one snapshot name'}\n${USAGE}`, 2);
  const fromName = r.rest[0]!;
  if (!fromName.includes('@')) die('Badly formed snapshot name ' + fromName);
  const from = need(st, fromName);
  const fsName = parentOf(fromName)!;
  const toName = r.rest[1] ?? fsName;
  const to = need(st, toName.startsWith('@') ? `${fsName}${toName}` : toName);
  const toFs = to.type === 'snapshot' ? parentOf(to.name)! : to.name;
  if (toFs !== fsName && st.datasets[toFs]?.origin?.startsWith(`${fsName}@`) !== true)
    die(`Cannot diff '${fromName}' and '${to.name}': not an earlier snapshot from the same fs`);
  if (to.type === 'snapshot' && to.createtxg < from.createtxg)
    die(`Cannot diff ${fromName} and ${to.name}: not an earlier snapshot from the same fs`);
  const fromDir = contentPath(ctx, from);
  const toDir = to.type === 'snapshot' ? contentPath(ctx, to) : mountpointPath(st, to);
  if (!fromDir || !toDir || !existsSync(fromDir))
    die(`zfs diff: simulated host: no content is kept for ${fromName} (construct the host with contentDir)`);
  const a = walk(fromDir);
  const b = walk(toDir);
  const mpRaw = mountpointPath(st, st.datasets[toFs]!) ?? `/${toFs}`;
  // libzfs_diff: a root-mounted dataset prints no mountpoint prefix (no double slash).
  const mp = mpRaw === '/' ? '' : mpRaw;
  const lines: string[] = [];
  const typeCol = has(r, 'F');
  const times = has(r, 't');
  const line = (change: string, e: Entry, rel: string) => {
    const path = zfsEscape(Buffer.from(`${mp}/${rel}`));
    // -t: seconds.nanoseconds of the change time, the seconds right-aligned in 10 columns.
    const ns = BigInt(Math.round(e.mtime * 1e6));
    const ts = times
      ? `${String(ns / 1000000000n).padStart(10)}.${String(ns % 1000000000n).padStart(9, '0')}\t`
      : '';
    lines.push(`${ts}${change}\t${typeCol ? `${e.type}\t` : ''}${path}`);
  };
  const parentsChanged = new Set<string>();
  const parentChanged = (p: string) =>
    parentsChanged.add(p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
  for (const [p, e] of a) {
    const n = b.get(p);
    if (!n || n.type !== e.type) {
      line('-', e, p);
      parentChanged(p);
    } else if (
      n.mode !== e.mode ||
      n.size !== e.size ||
      n.digest !== e.digest ||
      (e.type !== '/' && n.mtime !== e.mtime)
    )
      line('M', n, p);
  }
  for (const [p, e] of b) {
    const o = a.get(p);
    if (!o || o.type !== e.type) {
      line('+', e, p);
      parentChanged(p);
    }
  }
  for (const dir of parentsChanged) {
    if (dir === '') continue;
    const e = b.get(dir);
    if (e && a.has(dir) && !lines.some((l) => l.endsWith(`\t${zfsEscape(Buffer.from(`${mp}/${dir}`))}`)))
      line('M', e, dir);
  }
  if (parentsChanged.has('')) {
    const rootStat = lstatSync(toDir);
    line('M', { type: '/', mode: rootStat.mode, size: 0, mtime: rootStat.mtimeMs, digest: '' }, '');
  }
  return ok(lines.map((l) => `${l}\n`).join(''));
}

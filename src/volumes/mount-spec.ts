/**
 * Parsing the container CLI's mount flags into typed `MountRequest`s (pure; no I/O).
 *
 *   -v, --volume  [SOURCE:]DESTINATION[:OPTIONS]          (docker's syntax)
 *       SOURCE absolute  -> bind mount of a host path (created when missing, as docker does)
 *       SOURCE a name    -> named volume (created when missing)
 *       no SOURCE        -> anonymous volume
 *       OPTIONS, comma-separated: ro | rw, z | Z (SELinux relabel; recorded, not applied),
 *       shared | rshared | slave | rslave | private | rprivate (binds only), nocopy (volumes only),
 *       consistent | cached | delegated (accepted, meaningless here)
 *   --mount type=bind|volume|tmpfs,source=,target=,readonly,...   (docker's CSV syntax)
 *       keys: type (default volume), source|src, target|destination|dst, readonly|ro[=bool],
 *       bind-propagation, bind-create-src, volume-nocopy, volume-label (repeatable), volume-driver
 *       (local), volume-opt (refused: the local driver takes none), tmpfs-size (bytes, k/m/g
 *       suffixes), tmpfs-mode (octal), consistency (ignored)
 *   --tmpfs DESTINATION[:OPTIONS]    OPTIONS: size=, mode=, ro|rw, noexec|exec, nosuid|suid, nodev|dev
 * Every malformed value is ERR_MOUNT_INVALID naming the flag and the problem.
 */
import { posix } from 'node:path';
import { BrigError } from '../errors/errors.ts';
import { validVolumeName } from './volume-service.ts';

export type Propagation = 'shared' | 'rshared' | 'slave' | 'rslave' | 'private' | 'rprivate';

export interface BindRequest {
  type: 'bind';
  /** Absolute, normalised host path. */
  source: string;
  target: string;
  readOnly: boolean;
  propagation?: Propagation;
  /** Create the host path when missing (-v does, --mount does not unless bind-create-src). */
  createSource: boolean;
  selinux?: 'z' | 'Z';
}

export interface VolumeRequest {
  type: 'volume';
  /** Volume name; absent: an anonymous volume. */
  source?: string;
  target: string;
  readOnly: boolean;
  /** Do not copy the image's files at target into a new volume. */
  noCopy: boolean;
  labels?: Record<string, string>;
  selinux?: 'z' | 'Z';
}

export interface TmpfsRequest {
  type: 'tmpfs';
  target: string;
  readOnly: boolean;
  /** Bytes; absent: the kernel default (half of RAM). */
  size?: number;
  mode?: number;
  /** Other mount flags given (noexec, nosuid, nodev, exec, suid, dev). */
  flags?: string[];
}

export type MountRequest = BindRequest | VolumeRequest | TmpfsRequest;

const PROPAGATION = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);
const CONSISTENCY = new Set(['consistent', 'cached', 'delegated', 'default']);

function invalid(flag: string, value: string, why: string, hint?: string): BrigError {
  return new BrigError(
    'ERR_MOUNT_INVALID',
    `invalid ${flag} ${JSON.stringify(value)}: ${why}`,
    hint ? { hint } : {},
  );
}

/** An absolute container path, normalised; '/' itself is refused. */
function destination(flag: string, value: string, p: string): string {
  if (p === '') throw invalid(flag, value, 'the destination is empty');
  if (!p.startsWith('/')) throw invalid(flag, value, `destination ${p} is not an absolute path`);
  if (p.includes('\0')) throw invalid(flag, value, 'the destination holds a NUL byte');
  const n = posix.normalize(p).replace(/\/+$/, '');
  if (n === '') throw invalid(flag, value, 'the destination cannot be /');
  return n;
}

function hostPath(flag: string, value: string, p: string): string {
  if (p.includes('\0')) throw invalid(flag, value, 'the source holds a NUL byte');
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

export function parseVolumeFlag(value: string): MountRequest {
  const flag = '-v';
  if (typeof value !== 'string' || value === '') throw invalid(flag, String(value), 'empty');
  const parts = value.split(':');
  let src: string | undefined;
  let dst: string;
  let mode = '';
  if (parts.length === 1) dst = parts[0]!;
  else if (parts.length === 2) {
    [src, dst] = parts as [string, string];
    if (!dst.startsWith('/') && src.startsWith('/')) {
      throw invalid(
        flag,
        value,
        'a volume without a source cannot take options',
        'Use SOURCE:DESTINATION:OPTIONS.',
      );
    }
  } else if (parts.length === 3) [src, dst, mode] = parts as [string, string, string];
  else throw invalid(flag, value, 'too many colons', 'Use [SOURCE:]DESTINATION[:OPTIONS].');
  if (src === '') throw invalid(flag, value, 'the source is empty');
  const target = destination(flag, value, dst);

  let readOnly: boolean | undefined;
  let selinux: 'z' | 'Z' | undefined;
  let propagation: Propagation | undefined;
  let noCopy = false;
  let consistency = false;
  if (parts.length === 3 && mode === '') throw invalid(flag, value, 'empty options');
  for (const o of mode === '' ? [] : mode.split(',')) {
    if (o === 'ro' || o === 'rw') {
      if (readOnly !== undefined) throw invalid(flag, value, 'ro/rw given twice');
      readOnly = o === 'ro';
    } else if (o === 'z' || o === 'Z') {
      if (selinux) throw invalid(flag, value, 'z/Z given twice');
      selinux = o;
    } else if (PROPAGATION.has(o)) {
      if (propagation) throw invalid(flag, value, 'propagation given twice');
      propagation = o as Propagation;
    } else if (o === 'nocopy') {
      if (noCopy) throw invalid(flag, value, 'nocopy given twice');
      noCopy = true;
    } else if (CONSISTENCY.has(o)) {
      if (consistency) throw invalid(flag, value, 'consistency given twice');
      consistency = true;
    } else {
      throw invalid(flag, value, `unknown option ${JSON.stringify(o)}`);
    }
  }

  if (src === undefined || !src.startsWith('/')) {
    if (propagation) throw invalid(flag, value, 'propagation applies to bind mounts only');
    if (src !== undefined && !validVolumeName(src)) {
      throw invalid(
        flag,
        value,
        `${JSON.stringify(src)} is neither an absolute host path nor a volume name`,
        'A host directory must be given as an absolute path; a volume name is [A-Za-z0-9][A-Za-z0-9_.-]+.',
      );
    }
    return {
      type: 'volume',
      ...(src !== undefined ? { source: src } : {}),
      target,
      readOnly: readOnly ?? false,
      noCopy,
      ...(selinux ? { selinux } : {}),
    };
  }
  if (noCopy) throw invalid(flag, value, 'nocopy applies to volumes only');
  return {
    type: 'bind',
    source: hostPath(flag, value, src),
    target,
    readOnly: readOnly ?? false,
    createSource: true,
    ...(propagation ? { propagation } : {}),
    ...(selinux ? { selinux } : {}),
  };
}

/** Splits one CSV record (docker's --mount uses encoding/csv: fields may be "quoted", "" escapes "). */
export function splitCsv(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error('unterminated quote');
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += s[i++];
      }
      if (i < s.length && s[i] !== ',') throw new Error('text after a closing quote');
    } else {
      const j = s.indexOf(',', i);
      field = j < 0 ? s.slice(i) : s.slice(i, j);
      if (field.includes('"')) throw new Error('a quote inside an unquoted field');
      i = j < 0 ? s.length : j;
    }
    out.push(field);
    if (i >= s.length) return out;
    i++; // the comma
  }
}

function parseBool(flag: string, value: string, key: string, v: string | undefined): boolean {
  if (v === undefined) return true;
  switch (v.toLowerCase()) {
    case '1':
    case 'true':
      return true;
    case '0':
    case 'false':
      return false;
    default:
      throw invalid(flag, value, `${key}=${v}: expected true or false`);
  }
}

/** `64m`, `1g`, `1024`, `512k` -> bytes. */
export function parseSize(v: string): number | undefined {
  const m = /^(\d+)([kmgt]?)b?$/i.exec(v.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseMode(v: string): number | undefined {
  if (!/^[0-7]{1,4}$/.test(v)) return undefined;
  return Number.parseInt(v, 8);
}

export function parseMountFlag(value: string): MountRequest {
  const flag = '--mount';
  if (typeof value !== 'string' || value === '') throw invalid(flag, String(value), 'empty');
  let fields: string[];
  try {
    fields = splitCsv(value);
  } catch (e) {
    throw invalid(flag, value, (e as Error).message);
  }
  const seen = new Set<string>();
  let type: 'bind' | 'volume' | 'tmpfs' = 'volume';
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  let propagation: Propagation | undefined;
  let createSource = false;
  let noCopy = false;
  let size: number | undefined;
  let mode: number | undefined;
  const labels: Record<string, string> = {};
  const used: Record<'bind' | 'volume' | 'tmpfs', string[]> = { bind: [], volume: [], tmpfs: [] };
  for (const f of fields) {
    if (f === '') throw invalid(flag, value, 'an empty field');
    const eq = f.indexOf('=');
    const key = (eq < 0 ? f : f.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? undefined : f.slice(eq + 1);
    const need = (): string => {
      if (v === undefined || v === '') throw invalid(flag, value, `${key} needs a value`);
      return v;
    };
    const canonical =
      key === 'src'
        ? 'source'
        : key === 'destination' || key === 'dst'
          ? 'target'
          : key === 'ro'
            ? 'readonly'
            : key;
    if (canonical !== 'volume-label' && seen.has(canonical)) throw invalid(flag, value, `${key} given twice`);
    seen.add(canonical);
    switch (canonical) {
      case 'type': {
        const t = need();
        if (t !== 'bind' && t !== 'volume' && t !== 'tmpfs') {
          throw invalid(flag, value, `type ${t} is not bind, volume or tmpfs`);
        }
        type = t;
        break;
      }
      case 'source':
        source = need();
        break;
      case 'target':
        target = need();
        break;
      case 'readonly':
        readOnly = parseBool(flag, value, key, v);
        break;
      case 'consistency':
        if (!CONSISTENCY.has(need())) throw invalid(flag, value, `unknown consistency ${v}`);
        break;
      case 'bind-propagation':
        if (!PROPAGATION.has(need())) throw invalid(flag, value, `unknown bind-propagation ${v}`);
        propagation = v as Propagation;
        used.bind.push(key);
        break;
      case 'bind-create-src':
        createSource = parseBool(flag, value, key, v);
        used.bind.push(key);
        break;
      case 'volume-nocopy':
        noCopy = parseBool(flag, value, key, v);
        used.volume.push(key);
        break;
      case 'volume-label': {
        const l = need();
        const i = l.indexOf('=');
        const k = i < 0 ? l : l.slice(0, i);
        if (k === '') throw invalid(flag, value, 'a volume-label without a key');
        labels[k] = i < 0 ? '' : l.slice(i + 1);
        used.volume.push(key);
        break;
      }
      case 'volume-driver':
        if (need() !== 'local')
          throw invalid(flag, value, `unknown volume driver ${v}`, 'Use the local driver.');
        used.volume.push(key);
        break;
      case 'volume-opt':
        throw invalid(flag, value, 'the local volume driver takes no options');
      case 'tmpfs-size': {
        size = parseSize(need());
        if (size === undefined || size === 0) throw invalid(flag, value, `tmpfs-size ${v} is not a size`);
        used.tmpfs.push(key);
        break;
      }
      case 'tmpfs-mode':
        mode = parseMode(need());
        if (mode === undefined) throw invalid(flag, value, `tmpfs-mode ${v} is not an octal mode`);
        used.tmpfs.push(key);
        break;
      default:
        throw invalid(flag, value, `unknown key ${JSON.stringify(key)}`);
    }
  }
  for (const t of ['bind', 'volume', 'tmpfs'] as const) {
    if (t !== type && used[t].length > 0)
      throw invalid(flag, value, `${used[t][0]} does not apply to type=${type}`);
  }
  if (target === undefined) throw invalid(flag, value, 'target is missing');
  const dst = destination(flag, value, target);
  switch (type) {
    case 'bind':
      if (source === undefined) throw invalid(flag, value, 'a bind mount needs a source');
      if (!source.startsWith('/'))
        throw invalid(flag, value, `bind source ${source} is not an absolute path`);
      return {
        type,
        source: hostPath(flag, value, source),
        target: dst,
        readOnly,
        createSource,
        ...(propagation ? { propagation } : {}),
      };
    case 'volume':
      if (source !== undefined && !validVolumeName(source)) {
        throw invalid(flag, value, `${JSON.stringify(source)} is not a volume name`);
      }
      return {
        type,
        ...(source !== undefined ? { source } : {}),
        target: dst,
        readOnly,
        noCopy,
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
      };
    case 'tmpfs':
      if (source !== undefined) throw invalid(flag, value, 'a tmpfs mount takes no source');
      return {
        type,
        target: dst,
        readOnly,
        ...(size !== undefined ? { size } : {}),
        ...(mode !== undefined ? { mode } : {}),
      };
  }
}

const TMPFS_FLAGS = new Set(['noexec', 'exec', 'nosuid', 'suid', 'nodev', 'dev']);

export function parseTmpfsFlag(value: string): TmpfsRequest {
  const flag = '--tmpfs';
  if (typeof value !== 'string' || value === '') throw invalid(flag, String(value), 'empty');
  const i = value.indexOf(':');
  const target = destination(flag, value, i < 0 ? value : value.slice(0, i));
  const req: TmpfsRequest = { type: 'tmpfs', target, readOnly: false };
  if (i < 0) return req;
  const flags: string[] = [];
  let rw = false;
  for (const o of value.slice(i + 1).split(',')) {
    const eq = o.indexOf('=');
    const k = eq < 0 ? o : o.slice(0, eq);
    const v = eq < 0 ? undefined : o.slice(eq + 1);
    if (k === 'size' && v !== undefined) {
      if (req.size !== undefined) throw invalid(flag, value, 'size given twice');
      const n = parseSize(v);
      if (n === undefined || n === 0) throw invalid(flag, value, `size ${v} is not a size`);
      req.size = n;
    } else if (k === 'mode' && v !== undefined) {
      if (req.mode !== undefined) throw invalid(flag, value, 'mode given twice');
      const m = parseMode(v);
      if (m === undefined) throw invalid(flag, value, `mode ${v} is not an octal mode`);
      req.mode = m;
    } else if ((o === 'ro' || o === 'rw') && v === undefined) {
      if (req.readOnly || rw) throw invalid(flag, value, 'ro/rw given twice');
      req.readOnly = o === 'ro';
      rw = o === 'rw';
    } else if (TMPFS_FLAGS.has(o)) {
      if (flags.includes(o)) throw invalid(flag, value, `${o} given twice`);
      flags.push(o);
    } else {
      throw invalid(flag, value, `unknown option ${JSON.stringify(o)}`);
    }
  }
  if (flags.length > 0) req.flags = flags;
  return req;
}

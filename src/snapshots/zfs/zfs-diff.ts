/**
 * Reading `zfs diff -FH SNAPSHOT [SNAPSHOT|FILESYSTEM]` into a change set (src/layers/changes.ts).
 *
 * The format, as OpenZFS's libzfs_diff.c prints it (FreeBSD 13 and later), one line per change,
 * fields separated by tabs:
 *
 *   [CTIME\t] TYPE\t [FILETYPE\t] PATH [\tNEWPATH | \t(+N)]
 *
 * - CTIME (`-t`): `%10lld.%09lld`, seconds (space-padded) and nanoseconds.
 * - TYPE: `-` removed, `+` created, `M` modified, `R` renamed.
 * - FILETYPE (`-F`): `B` block device, `C` character device, `/` directory, `>` door, `|` FIFO,
 *   `@` symbolic link, `P` event port, `=` socket, `F` regular file (`?` unknown).
 * - PATH: the dataset's mountpoint followed by the path inside it (`/` for the root itself).
 *   Every byte that is not printable ASCII (<= space, >= DEL), and the backslash, is written as
 *   a backslash and four octal digits (`\0040` space, `\0011` tab, `\0012` newline, `\0134`
 *   backslash, `\0303\0251` é). So a path field never holds a raw space, tab or newline.
 * - R lines carry the new path after a tab (`-H`; without `-H` it is ` -> `, accepted too).
 * - A change of link count on a file is an M line with a last field `(+1)` / `(-1)`.
 *
 * Mapping to changes (paths relative to the mountpoint):
 *   `+` → add; `-` → delete; `M` → modify; `R old new` → delete old + add new.
 *   A path both removed and created (an object re-created, e.g. a file replaced by a directory)
 *   becomes one `modify`. The root directory's own M line is dropped (the root is not an entry).
 *
 * Renamed directories: zfs reports only the directory itself, not the unchanged objects under it.
 * The result lists them in `renamedDirs` (new paths): the layer creator must walk each one in the
 * new tree and add every entry beneath it, and the delete of the old path removes the old subtree
 * (a whiteout of a directory covers its contents).
 * Hard links: a new link to an existing file shows as M with `(+1)` on one of its names; walk-free
 * consumers cannot learn the other name from zfs diff.
 */
import { BrigError } from '../../errors/errors.ts';
import type { Change } from '../../layers/changes.ts';

export type ZfsFileType = 'B' | 'C' | '/' | '>' | '|' | '@' | 'P' | '=' | 'F' | '?';

export interface ZfsDiffEntry {
  change: '-' | '+' | 'M' | 'R';
  fileType?: ZfsFileType;
  /** Exact bytes of the full path as zfs printed it (unescaped). */
  path: Buffer;
  newPath?: Buffer;
  linkDelta?: number;
  ctime?: string;
}

export interface ZfsDiffOptions {
  /** The mountpoint of the filesystem (or of the clone) whose paths zfs prints. */
  mountpoint: string;
  /** Output made with -F (default true). */
  fileTypes?: boolean;
  /** Output made with -t (default false). */
  timestamps?: boolean;
}

export interface ZfsDiffResult {
  changes: Change[];
  /** New paths of renamed directories: add their whole subtree from the new tree. */
  renamedDirs: string[];
  entries: ZfsDiffEntry[];
}

const FILE_TYPES = new Set(['B', 'C', '/', '>', '|', '@', 'P', '=', 'F', '?']);

function parseError(lineNo: number, why: string, line: string): BrigError {
  return new BrigError(
    'ERR_ZFS_DIFF_PARSE',
    `zfs diff line ${lineNo}: ${why}: ${JSON.stringify(line.slice(0, 200))}`,
  );
}

/** Undoes zfs's `\0ooo` escapes (also the older three-digit `\ooo`), giving the exact bytes. */
export function unescapeZfsPath(field: string, lineNo = 0, latin1 = false): Buffer {
  const out: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const c = field.charCodeAt(i);
    if (c === 0x5c) {
      const four = /^[0-7]{4}/.exec(field.slice(i + 1, i + 5));
      const three = /^[0-7]{3}/.exec(field.slice(i + 1, i + 4));
      const digits =
        four && Number.parseInt(four[0], 8) <= 0o377 && four[0][0] === '0' ? four[0] : three?.[0];
      if (!digits || Number.parseInt(digits, 8) > 0o377) throw parseError(lineNo, 'bad escape', field);
      out.push(Number.parseInt(digits, 8));
      i += digits.length;
    } else if (c > 0x7f && !latin1) {
      // Only with -h (no mangling), given as a string: take the characters' UTF-8 bytes.
      out.push(...Buffer.from(field[i]!, 'utf8'));
    } else out.push(c & 0xff);
  }
  return Buffer.from(out);
}

/** Parses the lines of `zfs diff` output into entries, without interpreting them. */
export function parseZfsDiffEntries(
  output: string | Buffer,
  opts: Omit<ZfsDiffOptions, 'mountpoint'> = {},
): ZfsDiffEntry[] {
  // A Buffer is read byte for byte (latin1 maps each byte to one character and back).
  const latin1 = typeof output !== 'string';
  const text = typeof output === 'string' ? output : output.toString('latin1');
  const fileTypes = opts.fileTypes ?? true;
  const entries: ZfsDiffEntry[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    if (line === '') throw parseError(lineNo, 'empty line', line);
    const f = line.split('\t');
    let k = 0;
    const entry: Partial<ZfsDiffEntry> = {};
    if (opts.timestamps) {
      const ts = f[k++];
      if (ts === undefined || !/^ *\d+\.\d{9}$/.test(ts)) throw parseError(lineNo, 'bad change time', line);
      entry.ctime = ts.trim();
    }
    const change = f[k++];
    if (change !== '-' && change !== '+' && change !== 'M' && change !== 'R')
      throw parseError(lineNo, 'unknown change type', line);
    entry.change = change;
    if (fileTypes) {
      const t = f[k++];
      if (t === undefined || !FILE_TYPES.has(t)) throw parseError(lineNo, 'unknown file type', line);
      entry.fileType = t as ZfsFileType;
    }
    let pathField = f[k++];
    if (pathField === undefined || pathField === '') throw parseError(lineNo, 'missing path', line);
    if (change === 'R') {
      let newField = f[k];
      if (newField !== undefined) k++;
      else {
        const arrow = pathField.indexOf(' -> ');
        if (arrow < 0) throw parseError(lineNo, 'rename without a new path', line);
        newField = pathField.slice(arrow + 4);
        pathField = pathField.slice(0, arrow);
      }
      entry.newPath = unescapeZfsPath(newField, lineNo, latin1);
    } else if (change === 'M' && f[k] !== undefined) {
      const m = /^\(([+-]\d+)\)$/.exec(f[k]!);
      if (!m) throw parseError(lineNo, 'unexpected field', line);
      entry.linkDelta = Number(m[1]);
      k++;
    }
    if (k !== f.length) throw parseError(lineNo, 'unexpected field', line);
    entry.path = unescapeZfsPath(pathField, lineNo, latin1);
    entries.push(entry as ZfsDiffEntry);
  });
  return entries;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function toChange(kind: Change['kind'], rel: Buffer): Change {
  try {
    return { kind, path: strictUtf8.decode(rel) };
  } catch {
    return { kind, path: rel.toString('utf8'), rawPath: Buffer.from(rel) };
  }
}

/** Path relative to the mountpoint, as bytes; undefined for the root itself. */
function relative(full: Buffer, mountpoint: string, lineNo: number): Buffer | undefined {
  const mp = mountpoint === '/' ? '' : mountpoint.replace(/\/+$/, '');
  const prefix = Buffer.from(`${mp}/`);
  if (full.equals(prefix) || full.equals(Buffer.from(mp))) return undefined;
  if (full.length < prefix.length || !full.subarray(0, prefix.length).equals(prefix)) {
    throw new BrigError(
      'ERR_ZFS_DIFF_PARSE',
      `zfs diff line ${lineNo}: path ${JSON.stringify(full.toString('utf8'))} is not under ${mountpoint}`,
    );
  }
  const rel = full.subarray(prefix.length);
  if (
    rel.length === 0 ||
    rel.includes(0) ||
    rel
      .toString('latin1')
      .split('/')
      .some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new BrigError(
      'ERR_ZFS_DIFF_PARSE',
      `zfs diff line ${lineNo}: unusable path ${JSON.stringify(rel.toString('utf8'))}`,
    );
  }
  return rel;
}

/** Parses `zfs diff -FH` output into the change set of the filesystem mounted at `opts.mountpoint`. */
export function parseZfsDiff(output: string | Buffer, opts: ZfsDiffOptions): ZfsDiffResult {
  const entries = parseZfsDiffEntries(output, opts);
  // Keyed by the raw bytes (latin1 is a lossless byte ↔ string mapping).
  const order: string[] = [];
  const kinds = new Map<string, Change['kind']>();
  const renamedDirs: string[] = [];
  const put = (rel: Buffer, kind: Change['kind']) => {
    const key = rel.toString('latin1');
    const prev = kinds.get(key);
    if (prev === undefined) {
      order.push(key);
      kinds.set(key, kind);
      return;
    }
    if (prev === kind) return;
    if (prev === 'modify' && kind === 'delete') kinds.set(key, 'delete');
    else if (prev === 'delete' && kind === 'modify') kinds.set(key, 'modify');
    else if (prev === 'add' && kind === 'modify') kinds.set(key, 'add');
    else if (prev === 'modify' && kind === 'add') kinds.set(key, 'add');
    else if (prev === 'add' && kind === 'delete') kinds.delete(key);
    else kinds.set(key, 'modify'); // removed and re-created
  };
  entries.forEach((e, i) => {
    const lineNo = i + 1;
    const rel = relative(e.path, opts.mountpoint, lineNo);
    if (e.change === 'R') {
      const to = relative(e.newPath!, opts.mountpoint, lineNo);
      if (!rel || !to)
        throw new BrigError('ERR_ZFS_DIFF_PARSE', `zfs diff line ${lineNo}: rename of the root directory`);
      put(rel, 'delete');
      put(to, 'add');
      if (e.fileType === '/') renamedDirs.push(toChange('add', to).path);
      return;
    }
    if (!rel) return;
    put(rel, e.change === '+' ? 'add' : e.change === '-' ? 'delete' : 'modify');
  });
  const changes: Change[] = [];
  for (const key of order) {
    const kind = kinds.get(key);
    if (kind) changes.push(toChange(kind, Buffer.from(key, 'latin1')));
  }
  return { changes, renamedDirs, entries };
}

/**
 * Streaming tar reader: a pull parser over chunks the caller feeds.
 *
 *   parser.feed(chunk)                    // only once the previous chunk is consumed
 *   for (let ev = parser.next(); ev !== NEED_MORE; ev = parser.next()) {
 *     ENTRY -> parser.entry is the next entry's header
 *     DATA  -> parser.data is a slice of the current entry's content (a view into the chunk:
 *              use it before feeding the next chunk)
 *     ENTRY_END -> the entry's content is complete
 *     END   -> the archive's end marker was read; anything after it is ignored
 *   }
 *   parser.finish()                       // at end of input: throws if an entry is cut short
 *
 * It never buffers content: only headers and meta entries (PAX, GNU L/K, capped at
 * MAX_META_SIZE) are copied. Everything malformed is ERR_LAYER_INVALID.
 */
import { BrigError } from '../../errors/errors.ts';
import { BLOCK, MAX_META_SIZE, MAX_NUMBER, paddingOf, type TarEntry, type TarType } from './tar.ts';

export const NEED_MORE = 0;
export const ENTRY = 1;
export const DATA = 2;
export const ENTRY_END = 3;
export const END = 4;
export type TarEvent = typeof NEED_MORE | typeof ENTRY | typeof DATA | typeof ENTRY_END | typeof END;

const S_HEADER = 0;
const S_DATA = 1;
const S_PAD = 2;
const S_META = 3;
const S_EOF = 4;

function invalid(msg: string, entry?: string): BrigError {
  return new BrigError(
    'ERR_LAYER_INVALID',
    msg,
    entry === undefined ? {} : { details: { entry: display(entry) } },
  );
}

/** A byte-string name as readable UTF-8 text, for messages. */
export function display(byteString: string): string {
  return Buffer.from(byteString, 'latin1').toString('utf8');
}

/** Parses a numeric header field: octal (space/NUL padded) or GNU base-256. */
export function parseNumeric(b: Buffer, off: number, len: number, what: string): number {
  const first = b[off]!;
  if (first & 0x80) {
    if (first === 0xff) throw invalid(`negative base-256 ${what}`);
    let v = first & 0x7f;
    for (let i = 1; i < len; i++) {
      v = v * 256 + b[off + i]!;
      if (v > MAX_NUMBER) throw invalid(`${what} is too large`);
    }
    return v;
  }
  let i = off;
  const end = off + len;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw invalid(`${what} field is not octal`);
    v = v * 8 + (c - 0x30);
  }
  return v;
}

function cstring(b: Buffer, off: number, len: number): string {
  let e = off;
  const end = off + len;
  while (e < end && b[e] !== 0) e++;
  return b.toString('latin1', off, e);
}

function isZeroBlock(b: Buffer, off: number): boolean {
  for (let i = off; i < off + BLOCK; i += 8) {
    if (b.readBigUInt64LE(i) !== 0n) return false;
  }
  return true;
}

function checksumOk(b: Buffer, off: number): boolean {
  const want = parseNumeric(b, off + 148, 8, 'checksum');
  let u = 0;
  let s = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[off + i]!;
    u += c;
    s += c > 127 ? c - 256 : c;
  }
  return want === u || want === s;
}

/** Attributes that PAX headers (extended or global) and GNU L/K entries can override. */
interface Overrides {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  uname?: string;
  gname?: string;
  xattrs?: Map<string, Buffer>;
}

function parsePaxNumber(v: string, key: string, fractional: boolean): number {
  const re = fractional ? /^-?\d+(\.\d+)?$/ : /^\d+$/;
  if (!re.test(v)) throw invalid(`PAX ${key} is not a number: ${JSON.stringify(v.slice(0, 40))}`);
  const n = Number(v);
  if (!Number.isFinite(n) || Math.abs(n) > MAX_NUMBER) throw invalid(`PAX ${key} is out of range`);
  return n;
}

/** Parses PAX records `LEN KEY=VALUE\n`; values are raw bytes. Empty values delete (`null`). */
function parsePax(buf: Buffer, into: Overrides, deleted: Set<string> | null): void {
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // some writers pad the record area with NULs
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 20) throw invalid('malformed PAX record length');
    const lenStr = buf.toString('latin1', pos, sp);
    if (!/^\d+$/.test(lenStr)) throw invalid('malformed PAX record length');
    const len = Number(lenStr);
    const end = pos + len;
    if (len < 5 || end > buf.length || buf[end - 1] !== 0x0a) throw invalid('malformed PAX record');
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end) throw invalid('malformed PAX record: no "="');
    const key = buf.toString('latin1', sp + 1, eq);
    const raw = buf.subarray(eq + 1, end - 1);
    pos = end;
    if (raw.length === 0) {
      deleted?.add(key);
      applyPaxKey(into, key, null);
    } else {
      applyPaxKey(into, key, raw);
    }
  }
}

function applyPaxKey(o: Overrides, key: string, raw: Buffer | null): void {
  const v = raw === null ? null : raw.toString('latin1', 0, raw.length);
  switch (key) {
    case 'path':
      if (v === null) delete o.path;
      else o.path = v;
      return;
    case 'linkpath':
      if (v === null) delete o.linkpath;
      else o.linkpath = v;
      return;
    case 'size':
      if (v === null) delete o.size;
      else o.size = parsePaxNumber(v, key, false);
      return;
    case 'uid':
      if (v === null) delete o.uid;
      else o.uid = parsePaxNumber(v, key, false);
      return;
    case 'gid':
      if (v === null) delete o.gid;
      else o.gid = parsePaxNumber(v, key, false);
      return;
    case 'mtime':
      if (v === null) delete o.mtime;
      else o.mtime = parsePaxNumber(v, key, true);
      return;
    case 'uname':
      if (v === null) delete o.uname;
      else o.uname = v;
      return;
    case 'gname':
      if (v === null) delete o.gname;
      else o.gname = v;
      return;
  }
  if (key.startsWith('SCHILY.xattr.')) {
    const name = key.slice('SCHILY.xattr.'.length);
    o.xattrs ??= new Map();
    if (raw === null) o.xattrs.delete(name);
    else o.xattrs.set(name, Buffer.from(raw));
    return;
  }
  if (key.startsWith('LIBARCHIVE.xattr.')) {
    // libarchive: URL-encoded name, base64 value
    let name: string;
    try {
      name = Buffer.from(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), 'utf8').toString(
        'latin1',
      );
    } catch {
      throw invalid('malformed LIBARCHIVE.xattr name');
    }
    o.xattrs ??= new Map();
    if (raw === null) o.xattrs.delete(name);
    else o.xattrs.set(name, Buffer.from(raw.toString('latin1', 0, raw.length), 'base64'));
    return;
  }
  if (key.startsWith('GNU.sparse.')) throw invalid('sparse files are not supported');
  // Other keys (atime, ctime, comment, charset, hdrcharset, vendor keys) are ignored.
}

export class TarReader {
  /** The current entry (valid after ENTRY until the next ENTRY). */
  entry: TarEntry | null = null;
  /** The current content slice (valid after DATA until the next feed). */
  data: Buffer = Buffer.alloc(0);
  /** Entries announced so far (meta entries excluded). */
  count = 0;

  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private state = S_HEADER;
  private remaining = 0;
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private meta: Buffer | null = null;
  private metaFill = 0;
  private metaKind = 0;
  private global: Overrides = {};
  private local: Overrides = {};
  private localDeleted = new Set<string>();
  private pendingEntryEnd = false;

  feed(chunk: Buffer): void {
    if (this.pos < this.buf.length) throw new Error('TarReader.feed before the previous chunk was consumed');
    this.buf = chunk;
    this.pos = 0;
  }

  /** True once the end-of-archive marker was read. */
  get ended(): boolean {
    return this.state === S_EOF;
  }

  next(): TarEvent {
    for (;;) {
      if (this.pendingEntryEnd) {
        this.pendingEntryEnd = false;
        return ENTRY_END;
      }
      const buf = this.buf;
      switch (this.state) {
        case S_EOF:
          this.pos = buf.length;
          return NEED_MORE;
        case S_HEADER: {
          let hb: Buffer;
          let ho: number;
          if (this.headerFill === 0 && buf.length - this.pos >= BLOCK) {
            hb = buf;
            ho = this.pos;
            this.pos += BLOCK;
          } else {
            const n = Math.min(BLOCK - this.headerFill, buf.length - this.pos);
            if (n === 0) return NEED_MORE;
            buf.copy(this.header, this.headerFill, this.pos, this.pos + n);
            this.headerFill += n;
            this.pos += n;
            if (this.headerFill < BLOCK) return NEED_MORE;
            this.headerFill = 0;
            hb = this.header;
            ho = 0;
          }
          const ev = this.onHeader(hb, ho);
          if (ev !== NEED_MORE) return ev;
          continue;
        }
        case S_DATA: {
          if (this.remaining === 0) {
            this.state = S_PAD;
            continue;
          }
          const avail = buf.length - this.pos;
          if (avail === 0) return NEED_MORE;
          const n = Math.min(avail, this.remaining);
          this.data = buf.subarray(this.pos, this.pos + n);
          this.pos += n;
          this.remaining -= n;
          if (this.remaining === 0) {
            this.remaining = paddingOf(this.entry!.size);
            this.state = S_PAD;
            this.pendingEntryEnd = true;
          }
          return DATA;
        }
        case S_PAD: {
          const avail = buf.length - this.pos;
          const n = Math.min(avail, this.remaining);
          this.pos += n;
          this.remaining -= n;
          if (this.remaining > 0) return NEED_MORE;
          this.state = S_HEADER;
          continue;
        }
        case S_META: {
          const meta = this.meta!;
          const n = Math.min(meta.length - this.metaFill, buf.length - this.pos);
          buf.copy(meta, this.metaFill, this.pos, this.pos + n);
          this.metaFill += n;
          this.pos += n;
          if (this.metaFill < meta.length) return NEED_MORE;
          this.onMeta(meta);
          this.meta = null;
          this.remaining = paddingOf(meta.length);
          this.state = S_PAD;
          continue;
        }
      }
    }
  }

  /** Call at the end of input. Throws if the archive stops inside an entry. */
  finish(): void {
    if (this.state === S_EOF) return;
    if (this.state === S_HEADER && this.headerFill === 0 && this.meta === null && !this.hasLocal()) return;
    if (this.state === S_PAD && this.remaining === 0) return;
    throw invalid('the tar stream ends inside an entry');
  }

  private hasLocal(): boolean {
    return Object.keys(this.local).length > 0;
  }

  private onHeader(b: Buffer, o: number): TarEvent {
    if (isZeroBlock(b, o)) {
      // One zero block ends the archive (GNU tar accepts a lone one, with a warning).
      this.state = S_EOF;
      this.pos = this.buf.length;
      return END;
    }
    if (!checksumOk(b, o)) throw invalid('tar header checksum mismatch');
    const flag = b[o + 156]!;
    const magic = b.toString('latin1', o + 257, o + 263);
    const ustar = magic === 'ustar\0';
    const gnu = magic === 'ustar ';
    let size = parseNumeric(b, o + 124, 12, 'size');
    switch (flag) {
      case 0x78 /* x */:
      case 0x67 /* g */:
      case 0x4c /* L */:
      case 0x4b /* K */:
        {
          if (size > MAX_META_SIZE)
            throw invalid(`a ${String.fromCharCode(flag)} header of ${size} bytes is too large`);
          this.metaKind = flag;
          this.meta = Buffer.allocUnsafe(size);
          this.metaFill = 0;
          this.state = S_META;
          return NEED_MORE;
        }
      case 0x53 /* S */:
        throw invalid('sparse files are not supported');
      case 0x4d /* M */:
        throw invalid('multi-volume archives are not supported');
    }
    let name = cstring(b, o, 100);
    if (ustar) {
      const prefix = cstring(b, o + 345, 155);
      if (prefix.length > 0) name = `${prefix}/${name}`;
    }
    let type: TarType;
    switch (flag) {
      case 0:
      case 0x30:
      case 0x37:
        type = name.endsWith('/') && !ustar && !gnu ? 'dir' : 'file';
        break;
      case 0x31:
        type = 'hardlink';
        break;
      case 0x32:
        type = 'symlink';
        break;
      case 0x33:
        type = 'char';
        break;
      case 0x34:
        type = 'block';
        break;
      case 0x35:
      case 0x44 /* GNU dumpdir: a directory followed by a listing we skip */:
        type = 'dir';
        break;
      case 0x36:
        type = 'fifo';
        break;
      default:
        throw invalid(`unsupported tar entry type ${JSON.stringify(String.fromCharCode(flag))}`, name);
    }
    const g = this.global;
    const l = this.local;
    if (l.path !== undefined) name = l.path;
    else if (g.path !== undefined && !this.localDeleted.has('path')) name = g.path;
    let linkname = cstring(b, o + 157, 100);
    if (l.linkpath !== undefined) linkname = l.linkpath;
    else if (g.linkpath !== undefined && !this.localDeleted.has('linkpath')) linkname = g.linkpath;
    const pick = (k: 'size' | 'uid' | 'gid' | 'mtime', v: number): number =>
      l[k] !== undefined ? l[k]! : g[k] !== undefined && !this.localDeleted.has(k) ? g[k]! : v;
    size = pick('size', size);
    const uid = pick('uid', parseNumeric(b, o + 108, 8, 'uid'));
    const gid = pick('gid', parseNumeric(b, o + 116, 8, 'gid'));
    const mtime = pick('mtime', parseNumeric(b, o + 136, 12, 'mtime'));
    let xattrs: Map<string, Buffer> | null = null;
    if (g.xattrs?.size || l.xattrs?.size) {
      xattrs = new Map(g.xattrs ?? []);
      for (const [k, v] of l.xattrs ?? []) xattrs.set(k, v);
      for (const k of this.localDeleted) if (k.startsWith('SCHILY.xattr.')) xattrs.delete(k.slice(13));
      if (xattrs.size === 0) xattrs = null;
    }
    const entry: TarEntry = {
      name,
      type,
      mode: parseNumeric(b, o + 100, 8, 'mode') & 0o7777,
      uid,
      gid,
      size: type === 'file' || flag === 0x44 ? size : 0,
      mtime,
      linkname: type === 'hardlink' || type === 'symlink' ? linkname : '',
      devmajor: ustar || gnu ? parseNumeric(b, o + 329, 8, 'devmajor') : 0,
      devminor: ustar || gnu ? parseNumeric(b, o + 337, 8, 'devminor') : 0,
      uname: l.uname ?? g.uname ?? (ustar || gnu ? cstring(b, o + 265, 32) : ''),
      gname: l.gname ?? g.gname ?? (ustar || gnu ? cstring(b, o + 297, 32) : ''),
      xattrs,
    };
    this.local = {};
    this.localDeleted.clear();
    if (name.length === 0) throw invalid('a tar entry has an empty name');
    if (name.includes('\0') || linkname.includes('\0')) {
      // A name that C code would cut short at the NUL could name something else: refuse it.
      throw new BrigError('ERR_LAYER_UNSAFE_PATH', 'a tar entry name contains NUL', {
        details: { entry: display(name.replace(/\0/g, '\\0')) },
      });
    }
    this.entry = entry;
    this.count++;
    if (flag === 0x44) {
      // Dumpdir listing: skip it, the entry is a plain directory.
      entry.type = 'dir';
      this.remaining = entry.size + paddingOf(entry.size);
      entry.size = 0;
      this.state = S_PAD;
      this.pendingEntryEnd = true;
      return ENTRY;
    }
    if (entry.size === 0) {
      this.pendingEntryEnd = true;
      this.state = S_HEADER;
    } else {
      this.remaining = entry.size;
      this.state = S_DATA;
    }
    return ENTRY;
  }

  private onMeta(meta: Buffer): void {
    switch (this.metaKind) {
      case 0x78:
        parsePax(meta, this.local, this.localDeleted);
        return;
      case 0x67:
        parsePax(meta, this.global, null);
        return;
      case 0x4c:
        this.local.path = cstring(meta, 0, meta.length);
        return;
      case 0x4b:
        this.local.linkpath = cstring(meta, 0, meta.length);
        return;
    }
  }
}

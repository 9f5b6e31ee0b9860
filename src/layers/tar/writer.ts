/**
 * Tar writer: encodes entry headers (ustar, plus a PAX header only where a value does not fit).
 * The caller writes the entry's `size` bytes of content after the header, then `padding(size)`,
 * and `endOfArchive()` last. Output is a pure function of the entries: no clock, no user names,
 * no host state.
 */
import { BLOCK, paddingOf, type TarEntry, tarEntry } from './tar.ts';

const OCTAL_7 = 0o7777777; // 8-byte fields: 7 digits + NUL
const OCTAL_11 = 0o77777777777; // 12-byte fields: 11 digits + NUL

const TYPEFLAG: Record<TarEntry['type'], number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

function writeOctal(b: Buffer, off: number, len: number, v: number): void {
  const s = Math.trunc(v)
    .toString(8)
    .padStart(len - 1, '0');
  b.write(s, off, len - 1, 'latin1');
  b[off + len - 1] = 0;
}

function writeBase256(b: Buffer, off: number, len: number, v: number): void {
  let x = BigInt(Math.trunc(v));
  for (let i = len - 1; i > 0; i--) {
    b[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  b[off] = 0x80;
}

/** One PAX record `LEN KEY=VALUE\n`, LEN counting the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.byteLength(key, 'latin1') + value.length + 3;
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'latin1'), value, Buffer.from('\n', 'latin1')]);
}

/** Splits a name into ustar prefix (<= 155 bytes) and name (<= 100 bytes), or null. */
function splitUstar(name: string): [string, string] | null {
  if (name.length <= 100) return ['', name];
  if (name.length > 256) return null;
  for (let i = name.length - 101; i < name.length; i++) {
    if (i < 1) continue;
    if (name.charCodeAt(i) === 0x2f && i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return [name.slice(0, i), name.slice(i + 1)];
    }
  }
  return null;
}

function encodeBlock(
  e: TarEntry,
  name: string,
  prefix: string,
  linkname: string,
  typeflag: number,
  size: number,
  over: { uid: boolean; gid: boolean; size: boolean; mtime: boolean },
): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'latin1');
  writeOctal(b, 100, 8, e.mode & 0o7777);
  writeOctal(b, 108, 8, over.uid ? 0 : e.uid);
  writeOctal(b, 116, 8, over.gid ? 0 : e.gid);
  writeOctal(b, 124, 12, over.size ? 0 : size);
  writeOctal(b, 136, 12, over.mtime ? 0 : Math.floor(e.mtime));
  b.fill(0x20, 148, 156);
  b[156] = typeflag;
  b.write(linkname, 157, 100, 'latin1');
  b.write('ustar\x0000', 257, 8, 'latin1');
  b.write(e.uname, 265, 32, 'latin1');
  b.write(e.gname, 297, 32, 'latin1');
  for (const [off, v] of [
    [329, e.devmajor],
    [337, e.devminor],
  ] as const) {
    if (v > OCTAL_7) writeBase256(b, off, 8, v);
    else writeOctal(b, off, 8, v);
  }
  b.write(prefix, 345, 155, 'latin1');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

/**
 * The header bytes for one entry: a PAX header (when needed) followed by the ustar block.
 * Names and link names are byte strings. Only integer seconds of `mtime` are written.
 */
export function encodeHeader(e: TarEntry): Buffer {
  const size = e.type === 'file' ? e.size : 0;
  const records: Buffer[] = [];
  let name = e.name;
  let prefix = '';
  const split = splitUstar(e.name);
  if (split === null) {
    records.push(paxRecord('path', Buffer.from(e.name, 'latin1')));
    name = e.name.slice(0, 100);
  } else {
    [prefix, name] = split;
  }
  let linkname = e.linkname;
  if (linkname.length > 100) {
    records.push(paxRecord('linkpath', Buffer.from(linkname, 'latin1')));
    linkname = linkname.slice(0, 100);
  }
  const mtime = Math.floor(e.mtime);
  const over = {
    uid: e.uid > OCTAL_7,
    gid: e.gid > OCTAL_7,
    size: size > OCTAL_11,
    mtime: mtime < 0 || mtime > OCTAL_11,
  };
  if (over.gid) records.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (over.mtime) records.push(paxRecord('mtime', Buffer.from(String(mtime))));
  if (over.size) records.push(paxRecord('size', Buffer.from(String(size))));
  if (over.uid) records.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (e.xattrs) {
    const names = [...e.xattrs.keys()].sort();
    for (const k of names) records.push(paxRecord(`SCHILY.xattr.${k}`, e.xattrs.get(k)!));
  }
  const main = encodeBlock(e, name, prefix, linkname, TYPEFLAG[e.type], size, over);
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  const base = e.name.slice(e.name.lastIndexOf('/', e.name.length - 2) + 1).slice(0, 80);
  const paxEntry = tarEntry({
    name: `PaxHeaders/${base}`,
    type: 'file',
    mode: 0o644,
    size: pax.length,
    mtime: over.mtime ? 0 : mtime,
  });
  const paxHead = encodeBlock(paxEntry, paxEntry.name.slice(0, 100), '', '', 0x78, pax.length, {
    uid: false,
    gid: false,
    size: false,
    mtime: false,
  });
  return Buffer.concat([paxHead, pax, Buffer.alloc(paddingOf(pax.length)), main]);
}

const ZERO = Buffer.alloc(BLOCK * 2);

/** Zero padding after `size` bytes of content (a shared buffer: do not modify). */
export function padding(size: number): Buffer {
  return ZERO.subarray(0, paddingOf(size));
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Buffer {
  return ZERO;
}

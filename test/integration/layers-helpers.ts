/**
 * Shared helpers of the layers integration tests: tar building with brig's writer, and tree
 * snapshots (every path's type, mode, owner, size, content hash, link target, device, mtime,
 * xattrs) to compare trees.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { type TarEntry, tarEntry } from '../../src/layers/tar/tar.ts';
import { encodeHeader, endOfArchive, padding } from '../../src/layers/tar/writer.ts';

export type TarInput = Partial<TarEntry> & { name: string; data?: Buffer | string };

export function tarOf(inputs: TarInput[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const { data, ...i } of inputs) {
    const body = typeof data === 'string' ? Buffer.from(data) : (data ?? Buffer.alloc(0));
    const type = i.type ?? 'file';
    const e = tarEntry({
      mode: type === 'dir' ? 0o755 : 0o644,
      mtime: 1700000000,
      ...i,
      type,
      size: type === 'file' ? body.length : 0,
    });
    parts.push(encodeHeader(e));
    if (e.size > 0) parts.push(body, padding(e.size));
  }
  if (end) parts.push(endOfArchive());
  return Buffer.concat(parts);
}

export async function* chunks(buf: Buffer, size = 4096): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export interface SnapOptions {
  /** Relative paths (byte strings) to leave out, with everything under them. */
  exclude?: string[];
  /** Compare mtimes of these types (default all but the root). */
  mtime?: boolean;
  /** Compare mtimes in whole seconds (layers written by createLayer carry whole seconds). */
  seconds?: boolean;
  xattrs?: boolean;
  /** Leave out the root entry itself. */
  noRoot?: boolean;
}

/** path (byte string, '' = root) -> description */
export function snapshot(dir: string, opts: SnapOptions = {}): Map<string, string> {
  const out = new Map<string, string>();
  const rootB = Buffer.from(dir);
  const xattrs = opts.xattrs ? readXattrs(dir) : new Map<string, string>();
  const visit = (rel: Buffer) => {
    const relS = rel.toString('latin1');
    if (opts.exclude?.some((x) => relS === x || relS.startsWith(`${x}/`))) return;
    const abs = rel.length ? Buffer.concat([rootB, Buffer.from('/'), rel]) : rootB;
    const st = lstatSync(abs, { bigint: true });
    const type = st.isFile()
      ? 'f'
      : st.isDirectory()
        ? 'd'
        : st.isSymbolicLink()
          ? 'l'
          : st.isCharacterDevice()
            ? 'c'
            : st.isBlockDevice()
              ? 'b'
              : st.isFIFO()
                ? 'p'
                : 's';
    const parts = [type, (st.mode & 0o7777n).toString(8), st.uid, st.gid];
    if (type === 'f')
      parts.push(st.size, createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16));
    if (type === 'l') parts.push((readlinkSync(abs, { encoding: 'buffer' }) as Buffer).toString('latin1'));
    if (type === 'c' || type === 'b') parts.push(st.rdev);
    if (opts.mtime !== false && !(opts.noRoot && rel.length === 0))
      parts.push(`m${st.mtimeNs / (opts.seconds ? 1000000000n : 1000000n)}`);
    const x = xattrs.get(relS === '' ? '.' : `./${relS}`);
    if (x) parts.push(x);
    if (!(opts.noRoot && rel.length === 0)) out.set(relS, parts.join(' '));
    if (type === 'd') {
      for (const n of (readdirSync(abs, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare)) {
        visit(rel.length ? Buffer.concat([rel, Buffer.from('/'), n]) : n);
      }
    }
  };
  visit(Buffer.alloc(0));
  return out;
}

/** `getfattr -R` of a tree: './rel' (byte string) -> sorted 'name=hex' list. */
export function readXattrs(dir: string): Map<string, string> {
  const out = execFileSync(
    'getfattr',
    ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '.'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 28,
    },
  ).toString('latin1');
  const map = new Map<string, string>();
  for (const block of out.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '');
    if (lines.length === 0 || !lines[0]!.startsWith('# file: ')) continue;
    const path = lines[0]!
      .slice(8)
      .replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    const attrs = lines
      .slice(1)
      .filter((l) => !l.startsWith('security.selinux'))
      .sort();
    if (attrs.length) map.set(path, `x[${attrs.join(',')}]`);
  }
  return map;
}

/** Differences between two snapshots, as readable lines (empty when equal). */
export function diffSnapshots(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) out.push(`only in first: ${JSON.stringify(k)} ${v}`);
    else if (w !== v) out.push(`${JSON.stringify(k)}: ${v}  !=  ${w}`);
  }
  for (const [k, v] of b) if (!a.has(k)) out.push(`only in second: ${JSON.stringify(k)} ${v}`);
  return out;
}

/**
 * Test helper for the image interoperability tests: a description of every path under a root
 * (type, mode, owner, size, content hash, link target), to compare brig's unpack with umoci's.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface PathInfo {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  link?: string;
  rdev?: number;
}

function typeOf(st: import('node:fs').Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** Every path under `root` (relative, '' excluded) with what must agree between two unpacks. */
export function describeTree(root: string): Map<string, PathInfo> {
  const out = new Map<string, PathInfo>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const full = join(root, p);
      const st = lstatSync(full);
      const info: PathInfo = {
        type: typeOf(st),
        mode: (st.mode & 0o7777).toString(8),
        uid: st.uid,
        gid: st.gid,
        size: st.isDirectory() ? 0 : st.size,
      };
      if (st.isFile()) info.sha256 = createHash('sha256').update(readFileSync(full)).digest('hex');
      if (st.isSymbolicLink()) info.link = readlinkSync(full);
      if (st.isCharacterDevice() || st.isBlockDevice()) info.rdev = st.rdev;
      out.set(p, info);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}

/** Differences between two trees, as readable lines (empty when they agree). */
export function diffTrees(a: Map<string, PathInfo>, b: Map<string, PathInfo>): string[] {
  const lines: string[] = [];
  for (const [p, ia] of a) {
    const ib = b.get(p);
    if (!ib) lines.push(`only in first: ${p}`);
    else if (JSON.stringify(ia) !== JSON.stringify(ib))
      lines.push(`${p}: ${JSON.stringify(ia)} != ${JSON.stringify(ib)}`);
  }
  for (const p of b.keys()) if (!a.has(p)) lines.push(`only in second: ${p}`);
  return lines;
}

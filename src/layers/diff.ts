/**
 * Change sets from an overlayfs upper directory or from two trees (contracts in ./layers.ts).
 */
import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import { BrigError } from '../errors/errors.ts';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';
import { fsPath } from './apply.ts';
import type { Change, ChangeKind } from './changes.ts';
import { readXattrsTree, type XattrTable } from './xattr.ts';

function toChange(kind: ChangeKind, rel: string, opaque = false): Change {
  const b = Buffer.from(rel, 'latin1');
  const path = b.toString('utf8');
  const c: Change = { kind, path };
  if (!Buffer.from(path, 'utf8').equals(b)) c.rawPath = b;
  if (opaque) c.opaque = true;
  return c;
}

function names(dir: string): string[] {
  return (readdirSync(fsPath(dir), { encoding: 'buffer' }) as Buffer[])
    .map((n) => n.toString('latin1'))
    .sort();
}

const join = (rel: string, name: string) => (rel === '' ? name : `${rel}/${name}`);

function xattrValue(t: XattrTable, rel: string, name: string): string | undefined {
  return t.get(rel)?.get(name)?.toString('latin1');
}

export async function changesFromOverlayUpper(
  upperDir: string,
  runner: CommandRunner = hostRunner,
): Promise<Change[]> {
  const root = Buffer.from(upperDir, 'utf8').toString('latin1');
  const xattrs = await readXattrsTree(upperDir, runner);
  for (const [p, attrs] of xattrs) {
    for (const n of attrs.keys()) {
      if (/^(trusted|user)\.overlay\.(redirect|metacopy)$/.test(n)) {
        throw new BrigError(
          'ERR_LAYER_INVALID',
          `overlay upper entry ${p} uses ${n}, which a layer cannot express`,
          {
            hint: 'Mount the overlay with redirect_dir=off and metacopy=off.',
          },
        );
      }
    }
  }
  const out: Change[] = [];
  const walk = (rel: string) => {
    for (const name of names(rel === '' ? root : `${root}/${rel}`)) {
      const r = join(rel, name);
      const st = lstatSync(fsPath(`${root}/${r}`));
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push(toChange('delete', r));
        continue;
      }
      if (st.isDirectory()) {
        const o =
          xattrValue(xattrs, r, 'trusted.overlay.opaque') ?? xattrValue(xattrs, r, 'user.overlay.opaque');
        out.push(toChange('modify', r, o === 'y'));
        walk(r);
        continue;
      }
      out.push(toChange('modify', r));
    }
  };
  walk('');
  return out;
}

function typeBits(st: Stats): number {
  return st.mode & constants.S_IFMT;
}

function sameXattrs(a: Map<string, Buffer> | undefined, b: Map<string, Buffer> | undefined): boolean {
  const sa = a ? [...a].filter(([k]) => !k.startsWith('trusted.overlay.')) : [];
  const sb = b ? [...b].filter(([k]) => !k.startsWith('trusted.overlay.')) : [];
  if (sa.length !== sb.length) return false;
  const mb = new Map(sb);
  return sa.every(([k, v]) => mb.get(k)?.equals(v) ?? false);
}

function sameContent(a: string, b: string, size: number): boolean {
  const fa = openSync(fsPath(a), constants.O_RDONLY | constants.O_NOFOLLOW);
  const fb = openSync(fsPath(b), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const n = Math.min(size, 1 << 20);
    const ba = Buffer.allocUnsafe(n);
    const bb = Buffer.allocUnsafe(n);
    let left = size;
    while (left > 0) {
      const want = Math.min(n, left);
      const ra = readFull(fa, ba, want);
      const rb = readFull(fb, bb, want);
      if (ra !== rb || ba.compare(bb, 0, rb, 0, ra) !== 0) return false;
      if (ra < want) return true;
      left -= want;
    }
    return true;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

function readFull(fd: number, buf: Buffer, want: number): number {
  let got = 0;
  while (got < want) {
    const n = readSync(fd, buf, got, want - got, null);
    if (n === 0) break;
    got += n;
  }
  return got;
}

export async function changesFromTrees(
  lowerDir: string,
  upperDir: string,
  runner: CommandRunner = hostRunner,
): Promise<Change[]> {
  const lower = Buffer.from(lowerDir, 'utf8').toString('latin1');
  const upper = Buffer.from(upperDir, 'utf8').toString('latin1');
  const [lx, ux] = await Promise.all([readXattrsTree(lowerDir, runner), readXattrsTree(upperDir, runner)]);
  const out: Change[] = [];
  const addAll = (rel: string) => {
    for (const name of names(`${upper}/${rel}`)) {
      const r = join(rel, name);
      out.push(toChange('add', r));
      if (lstatSync(fsPath(`${upper}/${r}`)).isDirectory()) addAll(r);
    }
  };
  const differs = (r: string, l: Stats, u: Stats): boolean => {
    if (typeBits(l) !== typeBits(u)) return true;
    if ((l.mode & 0o7777) !== (u.mode & 0o7777) || l.uid !== u.uid || l.gid !== u.gid) return true;
    if (l.mtimeMs !== u.mtimeMs) return true;
    if (!sameXattrs(lx.get(r), ux.get(r))) return true;
    if (u.isSymbolicLink()) {
      const a = readlinkSync(fsPath(`${lower}/${r}`), { encoding: 'buffer' }) as Buffer;
      const b = readlinkSync(fsPath(`${upper}/${r}`), { encoding: 'buffer' }) as Buffer;
      return !a.equals(b);
    }
    if (u.isCharacterDevice() || u.isBlockDevice()) return l.rdev !== u.rdev;
    if (u.isFile()) return l.size !== u.size || !sameContent(`${lower}/${r}`, `${upper}/${r}`, u.size);
    return false;
  };
  const walk = (rel: string) => {
    const ln = names(rel === '' ? lower : `${lower}/${rel}`);
    const un = names(rel === '' ? upper : `${upper}/${rel}`);
    const all = [...new Set([...ln, ...un])].sort();
    const lset = new Set(ln);
    const uset = new Set(un);
    for (const name of all) {
      const r = join(rel, name);
      if (!uset.has(name)) {
        out.push(toChange('delete', r));
        continue;
      }
      const u = lstatSync(fsPath(`${upper}/${r}`));
      if (!lset.has(name)) {
        out.push(toChange('add', r));
        if (u.isDirectory()) addAll(r);
        continue;
      }
      const l = lstatSync(fsPath(`${lower}/${r}`));
      if (differs(r, l, u)) out.push(toChange('modify', r));
      if (u.isDirectory()) {
        if (l.isDirectory()) walk(r);
        else addAll(r);
      }
    }
  };
  walk('');
  return out;
}

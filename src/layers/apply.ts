/**
 * Applies a tar stream onto a directory: the engine behind `applyLayer` (./layers.ts states the
 * contract; this file is how).
 *
 * Speed: all filesystem work is synchronous, in big batches per decompressed chunk (1 MiB), so
 * no promise is created per file; a regular file costs open + write + fchown + fchmod + futimes
 * + close on its descriptor. Directory metadata is deferred to the end (children change a
 * directory's mtime, and a read-only directory would block its own children). Extended
 * attributes are collected and set in one `setfattr` process at the end (./xattr.ts).
 *
 * Safety: every name is resolved here, never by the kernel from a name in the tar.
 * - Names are split into components and `..` is applied lexically; a name that climbs above the
 *   root is refused. Absolute names are taken relative to the root (as GNU tar does).
 * - Parent directories are walked one component at a time with lstat; a symlink met on the way
 *   is resolved inside the root as chroot(2) would (absolute targets restart at the root, `..`
 *   stops at the root), so the resulting *real path* has no symlink in it. Missing parents are
 *   created as plain directories.
 * - The last component is never followed: new files are opened O_CREAT|O_EXCL|O_NOFOLLOW, and
 *   anything already there is removed (unlink, or rm -r of a directory, neither of which
 *   follows symlinks) before the new entry is created.
 * - Real paths of directories are cached (tar name -> real path). Only this applier changes the
 *   tree while it runs, so a cached real path stays symlink-free until the applier itself
 *   removes a directory or a symlink; it then drops the whole cache, and forgets every deferred
 *   change at or under a removed directory so that nothing deferred can later land elsewhere.
 * - Deferred directory metadata is applied through a descriptor opened O_DIRECTORY|O_NOFOLLOW.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { BrigError } from '../errors/errors.ts';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';
import { display } from './tar/reader.ts';
import type { TarEntry } from './tar/tar.ts';
import { setXattrs, type XattrTable } from './xattr.ts';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = constants;
const CREATE_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_SYMLINKS = 40;

const ASCII = /^[\x00-\x7f]*$/;
/** A byte-string path as a Node fs argument (strings are encoded UTF-8 by Node). */
export function fsPath(s: string): string | Buffer {
  return ASCII.test(s) ? s : Buffer.from(s, 'latin1');
}

/** A byte-string path as a UTF-8 string for a child's argv, or null when not valid UTF-8. */
function argPath(s: string): string | null {
  if (ASCII.test(s)) return s;
  const b = Buffer.from(s, 'latin1');
  const u = b.toString('utf8');
  return Buffer.from(u, 'utf8').equals(b) ? u : null;
}

function lstat(p: string): Stats | undefined {
  return lstatSync(fsPath(p), { throwIfNoEntry: false });
}

export interface ApplierOptions {
  /** Real path of the root as a byte string (no trailing slash, no symlinks). */
  root: string;
  whiteouts: 'delete' | 'overlay';
  unprivileged: boolean;
  runner?: CommandRunner;
}

interface DirMeta {
  uid: number;
  gid: number;
  mode: number;
  mtime: number;
}

/** Splits a tar name into components; null when it climbs above the root. */
function splitName(name: string): string[] | null {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

export class Applier {
  private readonly root: string;
  private readonly overlay: boolean;
  private readonly unprivileged: boolean;
  private readonly runner: CommandRunner;
  /** Normalised tar directory name ('' = root) -> its real path. */
  private readonly dirCache = new Map<string, string>();
  /** Real paths this layer created or replaced (whiteouts and opaque dirs spare them). */
  private readonly touched = new Set<string>();
  /** Overlay whiteouts this layer made (a directory replacing one must become opaque). */
  private readonly whiteoutsMade = new Set<string>();
  private readonly pendingDirs = new Map<string, DirMeta>();
  private readonly pendingXattrs: XattrTable = new Map();
  private fd = -1;
  private fileEntry: TarEntry | null = null;

  constructor(opts: ApplierOptions) {
    this.root = opts.root;
    this.overlay = opts.whiteouts === 'overlay';
    this.unprivileged = opts.unprivileged;
    this.runner = opts.runner ?? hostRunner;
    this.dirCache.set('', this.root);
  }

  /** Starts an entry. Returns a promise only when the entry needs a helper process. */
  begin(e: TarEntry): Promise<void> | undefined {
    const parts = splitName(e.name);
    if (parts === null) throw unsafe(e, 'the name climbs above the root');
    if (parts.length === 0) {
      if (e.type !== 'dir') throw unsafe(e, 'the entry would replace the root itself');
      this.deferDir(this.root, e);
      this.deferXattrs(this.root, e);
      return undefined;
    }
    const base = parts[parts.length - 1]!;
    if (base.startsWith(WH)) return this.whiteout(e, parts);
    const parentKey = parts.length === 1 ? '' : parts.slice(0, -1).join('/');
    const parent = this.dirCache.get(parentKey) ?? this.resolveDir(parts.slice(0, -1), true, e)!;
    const real = `${parent}/${base}`;
    this.touched.add(real);
    this.pendingXattrs.delete(real);
    switch (e.type) {
      case 'file':
        this.fd = this.createFile(real);
        this.fileEntry = e;
        break;
      case 'dir':
        this.makeDir(real, e);
        this.dirCache.set(parts.join('/'), real);
        break;
      case 'symlink':
        this.replace(real, () => symlinkSync(fsPath(e.linkname), fsPath(real)));
        if (!this.unprivileged) lchownSync(fsPath(real), e.uid, e.gid);
        lutimesSync(fsPath(real), e.mtime, e.mtime);
        break;
      case 'hardlink':
        this.hardlink(real, e);
        return undefined;
      case 'char':
      case 'block':
      case 'fifo':
        if (e.type !== 'fifo' && this.unprivileged) {
          throw new BrigError('ERR_LAYER_DEVICE_REFUSED', `layer entry ${display(e.name)} is a device node`, {
            details: { entry: display(e.name) },
          });
        }
        return this.makeNode(real, e);
    }
    this.deferXattrs(real, e);
    return undefined;
  }

  data(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
  }

  /** Ends the current entry (metadata of a regular file, applied on its descriptor). */
  end(): void {
    const fd = this.fd;
    if (fd < 0) return;
    const e = this.fileEntry!;
    this.fd = -1;
    this.fileEntry = null;
    try {
      // chown first: it clears setuid/setgid, which the chmod then restores.
      if (!this.unprivileged) fchownSync(fd, e.uid, e.gid);
      fchmodSync(fd, e.mode);
      futimesSync(fd, e.mtime, e.mtime);
    } finally {
      closeSync(fd);
    }
  }

  /** Releases the open file, if any (after a failure). */
  abort(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {}
      this.fd = -1;
    }
  }

  /** Applies deferred directory metadata (deepest first), then extended attributes. */
  async finish(): Promise<void> {
    const dirs = [...this.pendingDirs.keys()].sort((a, b) => b.length - a.length);
    for (const real of dirs) {
      const m = this.pendingDirs.get(real)!;
      const fd = openSync(fsPath(real), DIR_FLAGS);
      try {
        if (!this.unprivileged) fchownSync(fd, m.uid, m.gid);
        fchmodSync(fd, m.mode);
        futimesSync(fd, m.mtime, m.mtime);
      } finally {
        closeSync(fd);
      }
    }
    this.pendingDirs.clear();
    if (this.pendingXattrs.size > 0) {
      for (const real of this.pendingXattrs.keys()) {
        if (lstat(real) === undefined) this.pendingXattrs.delete(real);
      }
      await setXattrs(this.pendingXattrs, this.runner);
      this.pendingXattrs.clear();
    }
  }

  /**
   * Resolves a directory (tar components) to its real path inside the root, following
   * symlinks as chroot(2) would. Creates missing directories when `create`; else returns null
   * for a missing one.
   */
  private resolveDir(parts: string[], create: boolean, e: TarEntry): string | null {
    const key = parts.join('/');
    const hit = this.dirCache.get(key);
    if (hit !== undefined) return hit;
    const todo = parts.slice().reverse();
    const stack: string[] = [];
    let cur = this.root;
    let links = 0;
    while (todo.length > 0) {
      const c = todo.pop()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        stack.pop();
        cur = stack.length > 0 ? stack[stack.length - 1]! : this.root;
        continue;
      }
      const p = `${cur}/${c}`;
      const st = lstat(p);
      if (st === undefined) {
        if (!create) return null;
        mkdirSync(fsPath(p), 0o755);
        this.touched.add(p);
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw unsafe(e, 'too many levels of symbolic links');
        const target = (readlinkSync(fsPath(p), { encoding: 'buffer' }) as Buffer).toString('latin1');
        if (target.startsWith('/')) {
          stack.length = 0;
          cur = this.root;
        }
        const tparts = target.split('/');
        for (let i = tparts.length - 1; i >= 0; i--) todo.push(tparts[i]!);
        continue;
      } else if (!st.isDirectory()) {
        throw new BrigError(
          'ERR_LAYER_INVALID',
          `layer entry ${display(e.name)}: a parent is not a directory`,
          {
            details: { entry: display(e.name) },
          },
        );
      }
      stack.push(p);
      cur = p;
    }
    this.dirCache.set(key, cur);
    return cur;
  }

  private createFile(real: string): number {
    try {
      return openSync(fsPath(real), CREATE_FLAGS, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.remove(real);
    return openSync(fsPath(real), CREATE_FLAGS, 0o600);
  }

  /** Runs `make` (which must fail with EEXIST rather than follow), removing what is in the way. */
  private replace(real: string, make: () => void): void {
    try {
      make();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.remove(real);
    make();
  }

  /** Removes whatever is at `real` without following it; forgets what was deferred there. */
  private remove(real: string, st: Stats | undefined = lstat(real)): void {
    if (st === undefined) return;
    this.pendingXattrs.delete(real);
    if (st.isDirectory()) {
      this.pendingDirs.delete(real);
      const prefix = `${real}/`;
      for (const k of this.pendingDirs.keys()) if (k.startsWith(prefix)) this.pendingDirs.delete(k);
      for (const k of this.pendingXattrs.keys()) if (k.startsWith(prefix)) this.pendingXattrs.delete(k);
      this.dirCache.clear();
      this.dirCache.set('', this.root);
      rmSync(fsPath(real), { recursive: true, force: true });
      return;
    }
    if (st.isSymbolicLink()) {
      this.dirCache.clear();
      this.dirCache.set('', this.root);
    }
    unlinkSync(fsPath(real));
  }

  private makeDir(real: string, e: TarEntry): void {
    const st = lstat(real);
    if (st?.isDirectory()) {
      // A directory merges into an existing one; an overlay whiteout it replaces hides the lower.
    } else {
      const wasWhiteout = this.whiteoutsMade.has(real);
      if (st !== undefined) this.remove(real, st);
      mkdirSync(fsPath(real), 0o700);
      if (wasWhiteout) this.setOpaque(real);
    }
    this.deferDir(real, e);
  }

  private deferDir(real: string, e: TarEntry): void {
    this.pendingDirs.set(real, { uid: e.uid, gid: e.gid, mode: e.mode, mtime: e.mtime });
  }

  private deferXattrs(real: string, e: TarEntry): void {
    if (e.xattrs === null) return;
    let attrs: Map<string, Buffer> | undefined;
    for (const [name, value] of e.xattrs) {
      // A layer never sets overlayfs's own attributes (they could redirect lookups elsewhere).
      if (name.startsWith('trusted.overlay.')) continue;
      const ok = this.unprivileged
        ? name.startsWith('user.')
        : name.startsWith('user.') || name.startsWith('security.') || name.startsWith('trusted.');
      if (!ok) continue;
      attrs ??= this.pendingXattrs.get(real) ?? new Map();
      attrs.set(name, value);
    }
    if (attrs) this.pendingXattrs.set(real, attrs);
  }

  private setOpaque(real: string): void {
    const attrs = this.pendingXattrs.get(real) ?? new Map<string, Buffer>();
    attrs.set('trusted.overlay.opaque', Buffer.from('y'));
    this.pendingXattrs.set(real, attrs);
  }

  private hardlink(real: string, e: TarEntry): void {
    const tparts = splitName(e.linkname);
    if (tparts === null) throw unsafe(e, 'the hardlink target climbs above the root');
    if (tparts.length === 0) throw unsafe(e, 'the hardlink target is the root');
    const tkey = tparts.length === 1 ? '' : tparts.slice(0, -1).join('/');
    const tparent = this.dirCache.get(tkey) ?? this.resolveDir(tparts.slice(0, -1), false, e);
    if (tparent === null) throw missingTarget(e);
    const target = `${tparent}/${tparts[tparts.length - 1]!}`;
    if (target === real) return;
    const tst = lstat(target);
    if (tst === undefined) throw missingTarget(e);
    if (tst.isDirectory())
      throw new BrigError('ERR_LAYER_INVALID', `hardlink ${display(e.name)} names a directory`, {
        details: { entry: display(e.name) },
      });
    // link(2) does not follow a symlink target: the link is to the symlink itself.
    this.replace(real, () => linkSync(fsPath(target), fsPath(real)));
  }

  /** Device nodes and fifos: Node has no mknod(2), so `mknod`/`mkfifo` make them. */
  private async makeNode(real: string, e: TarEntry): Promise<void> {
    await this.mknod(real, e.type as 'char' | 'block' | 'fifo', e.devmajor, e.devminor);
    if (!this.unprivileged) lchownSync(fsPath(real), e.uid, e.gid);
    chmodSync(fsPath(real), e.mode);
    lutimesSync(fsPath(real), e.mtime, e.mtime);
    this.deferXattrs(real, e);
  }

  /**
   * Creates the node under a fresh temporary name in the same directory (argv must be UTF-8 and
   * must not be a name the layer chose), then renames it over `real`: rename(2) replaces a final
   * symlink rather than following it.
   */
  private async mknod(
    real: string,
    type: 'char' | 'block' | 'fifo',
    major: number,
    minor: number,
  ): Promise<void> {
    const slash = real.lastIndexOf('/');
    let dir = real.slice(0, slash);
    if (argPath(dir) === null) dir = this.root;
    const tmp = `${dir}/.brig-mknod-${randomBytes(6).toString('hex')}`;
    const tmpArg = argPath(tmp);
    if (tmpArg === null) throw new BrigError('ERR_LAYER_INVALID', 'the target root path is not valid UTF-8');
    if (type === 'fifo') await this.runner.run('mkfifo', ['-m', '0600', tmpArg]);
    else
      await this.runner.run('mknod', [
        '-m',
        '0600',
        tmpArg,
        type === 'char' ? 'c' : 'b',
        String(major),
        String(minor),
      ]);
    const st = lstat(real);
    if (st?.isDirectory()) this.remove(real, st);
    else if (st !== undefined) this.pendingXattrs.delete(real);
    if (st?.isSymbolicLink()) {
      this.dirCache.clear();
      this.dirCache.set('', this.root);
    }
    renameSync(fsPath(tmp), fsPath(real));
  }

  private async whiteout(e: TarEntry, parts: string[]): Promise<void> {
    const base = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    if (base === OPAQUE) {
      const dir = this.resolveDir(parentParts, true, e)!;
      if (this.overlay) this.setOpaque(dir);
      else this.clearLower(dir);
      return;
    }
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw unsafe(e, 'the whiteout names no entry of its directory');
    }
    if (parentParts.length === 0 && name === '') throw unsafe(e, 'the whiteout names the root');
    const parent = this.resolveDir(parentParts, this.overlay, e);
    if (parent === null) return; // nothing below to hide
    const target = `${parent}/${name}`;
    const st = lstat(target);
    if (this.touched.has(target)) {
      // Entries of this layer survive its whiteouts; a directory it re-created loses the lower part.
      if (st?.isDirectory()) {
        if (this.overlay) this.setOpaque(target);
        else this.clearLower(target);
      }
      return;
    }
    if (!this.overlay) {
      if (st !== undefined) this.remove(target, st);
      return;
    }
    await this.mknod(target, 'char', 0, 0);
    this.touched.add(target);
    this.whiteoutsMade.add(target);
  }

  /** Removes what is under `dir` and was not put there by this layer. */
  private clearLower(dir: string): void {
    const names = readdirSync(fsPath(dir), { encoding: 'buffer' }) as Buffer[];
    for (const n of names) {
      const child = `${dir}/${n.toString('latin1')}`;
      const st = lstat(child);
      if (st === undefined) continue;
      if (this.touched.has(child)) {
        if (st.isDirectory()) this.clearLower(child);
      } else {
        this.remove(child, st);
      }
    }
  }
}

function unsafe(e: TarEntry, why: string): BrigError {
  return new BrigError('ERR_LAYER_UNSAFE_PATH', `layer entry ${display(e.name)}: ${why}`, {
    details: { entry: display(e.name) },
  });
}

function missingTarget(e: TarEntry): BrigError {
  return new BrigError(
    'ERR_LAYER_INVALID',
    `hardlink ${display(e.name)}: its target ${display(e.linkname)} does not exist`,
    {
      details: { entry: display(e.name), target: display(e.linkname) },
    },
  );
}

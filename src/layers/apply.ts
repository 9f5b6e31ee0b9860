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
  fstatSync,
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

interface PendingNode {
  entry: TarEntry;
  /** The placeholder file that holds the node's place until the batch replaces it. */
  dev: number;
  ino: number;
  /** Make an overlay whiteout (char 0/0, no metadata) instead of the entry's node. */
  whiteout: boolean;
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
  /** Directories this applier made: none has setgid before finish(), so files in them get our gid. */
  private readonly madeDirs = new Set<string>();
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;
  /** The process umask, probed before the first file (-1 until then). */
  private umask = -1;
  /** Whether the current file still needs fchown / fchmod when it ends. */
  private fileChown = true;
  private fileChmod = true;
  /** Overlay whiteouts this layer made (a directory replacing one must become opaque). */
  private readonly whiteoutsMade = new Set<string>();
  private readonly pendingDirs = new Map<string, DirMeta>();
  /** Device nodes and fifos waiting for the batch that makes them, by real path. */
  private readonly pendingNodes = new Map<string, PendingNode>();
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
      case 'file': {
        // Skip the syscalls whose effect open(2) already has: the mode when the umask keeps it
        // and there are no setuid/setgid/sticky bits, the owner when it is ours in our own dir.
        if (this.umask < 0) this.umask = this.probeUmask();
        const plain = (e.mode & 0o7000) === 0 && (e.mode & this.umask) === 0;
        this.fd = this.createFile(real, plain ? e.mode : 0o600);
        this.fileChmod = !plain;
        this.fileChown =
          !this.unprivileged && !(e.uid === this.euid && e.gid === this.egid && this.madeDirs.has(parent));
        this.fileEntry = e;
        break;
      }
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
        return this.hardlink(real, e);
      case 'char':
      case 'block':
      case 'fifo':
        if (e.type !== 'fifo' && this.unprivileged) {
          throw new BrigError('ERR_LAYER_DEVICE_REFUSED', `layer entry ${display(e.name)} is a device node`, {
            details: { entry: display(e.name) },
          });
        }
        this.deferNode(real, e, false);
        break;
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
      if (this.fileChown) fchownSync(fd, e.uid, e.gid);
      if (this.fileChmod) fchmodSync(fd, e.mode);
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

  /** Makes pending nodes, applies deferred directory metadata (deepest first), then xattrs. */
  async finish(): Promise<void> {
    await this.flushNodes();
    const dirs = [...this.pendingDirs.keys()].sort((a, b) => b.length - a.length);
    const memo = new Map<string, boolean>();
    for (const real of dirs) {
      const m = this.pendingDirs.get(real)!;
      if (!this.intactParents(real, memo)) continue;
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
      const memo = new Map<string, boolean>();
      for (const real of this.pendingXattrs.keys()) {
        if (!this.intactParents(real, memo) || lstat(real) === undefined) this.pendingXattrs.delete(real);
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
        this.madeDirs.add(p);
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

  /** The umask, read by creating a throwaway file (process.umask() without argument is deprecated). */
  private probeUmask(): number {
    const probe = `${this.root}/.brig-umask-${randomBytes(8).toString('hex')}`;
    const fd = openSync(fsPath(probe), CREATE_FLAGS, 0o777);
    try {
      return 0o777 & ~fstatSync(fd).mode;
    } finally {
      closeSync(fd);
      unlinkSync(fsPath(probe));
    }
  }

  /**
   * Whether every directory above `real` (a real path recorded earlier) is still a directory,
   * not a symlink: a later entry may have removed one and put a symlink in its place, and then
   * the kernel would follow it. Memoised per prefix, so checking n deferred paths is linear.
   */
  private intactParents(real: string, memo: Map<string, boolean>): boolean {
    const slash = real.lastIndexOf('/');
    if (slash <= this.root.length) return true;
    const dir = real.slice(0, slash);
    const known = memo.get(dir);
    if (known !== undefined) return known;
    const ok = this.intactParents(dir, memo) && lstat(dir)?.isDirectory() === true;
    memo.set(dir, ok);
    return ok;
  }

  private createFile(real: string, mode = 0o600): number {
    try {
      return openSync(fsPath(real), CREATE_FLAGS, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    this.remove(real);
    return openSync(fsPath(real), CREATE_FLAGS, mode);
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
    this.pendingNodes.delete(real);
    if (st.isDirectory()) {
      this.pendingDirs.delete(real);
      this.madeDirs.delete(real);
      // What was deferred *below* it is checked when it is applied (intactParents), which
      // stays linear where purging here would cost pending x removals.
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
      this.madeDirs.add(real);
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

  private hardlink(real: string, e: TarEntry): Promise<void> | undefined {
    const tparts = splitName(e.linkname);
    if (tparts === null) throw unsafe(e, 'the hardlink target climbs above the root');
    if (tparts.length === 0) throw unsafe(e, 'the hardlink target is the root');
    const tkey = tparts.length === 1 ? '' : tparts.slice(0, -1).join('/');
    const tparent = this.dirCache.get(tkey) ?? this.resolveDir(tparts.slice(0, -1), false, e);
    if (tparent === null) throw missingTarget(e);
    const target = `${tparent}/${tparts[tparts.length - 1]!}`;
    if (target === real) return undefined;
    if (this.pendingNodes.has(target)) {
      // A link to a node not made yet: make the pending nodes now, then link.
      return this.flushNodes().then(() => this.hardlink(real, e));
    }
    const tst = lstat(target);
    if (tst === undefined) throw missingTarget(e);
    if (tst.isDirectory())
      throw new BrigError('ERR_LAYER_INVALID', `hardlink ${display(e.name)} names a directory`, {
        details: { entry: display(e.name) },
      });
    // link(2) does not follow a symlink target: the link is to the symlink itself.
    this.replace(real, () => linkSync(fsPath(target), fsPath(real)));
    return undefined;
  }

  /**
   * Device nodes and fifos. Node has no mknod(2) and a child process per node costs ~20 ms
   * from a large parent, so nodes are made in batches: an empty placeholder file takes the
   * node's place now (so later entries see, replace or remove it like any entry), and
   * `flushNodes` makes every pending node in one `xargs mknod` run and renames each over its
   * placeholder if the placeholder is still there.
   */
  private deferNode(real: string, e: TarEntry, whiteout: boolean): void {
    const fd = this.createFile(real);
    try {
      const st = fstatSync(fd);
      this.pendingNodes.set(real, { entry: e, dev: st.dev, ino: st.ino, whiteout });
    } finally {
      closeSync(fd);
    }
  }

  private async flushNodes(): Promise<void> {
    if (this.pendingNodes.size === 0) return;
    const nodes = [...this.pendingNodes];
    this.pendingNodes.clear();
    const rootArg = argPath(this.root);
    if (rootArg === null) throw new BrigError('ERR_LAYER_INVALID', 'the target root path is not valid UTF-8');
    // A fresh directory of the root's own file system, so that rename(2) can move the nodes.
    const staging = `${this.root}/.brig-nodes-${randomBytes(8).toString('hex')}`;
    mkdirSync(fsPath(staging), 0o700);
    try {
      const devArgs: string[] = [];
      const fifoArgs: string[] = [];
      nodes.forEach(([, n], i) => {
        const tmp = `${rootArg}/${staging.slice(this.root.length + 1)}/${i}`;
        const e = n.entry;
        if (n.whiteout) devArgs.push('-m', '0000', tmp, 'c', '0', '0');
        else if (e.type === 'fifo') fifoArgs.push('-m', '0600', tmp, 'p');
        else
          devArgs.push(
            '-m',
            '0600',
            tmp,
            e.type === 'char' ? 'c' : 'b',
            String(e.devmajor),
            String(e.devminor),
          );
      });
      // xargs forks the mknods from a small process: one fork from Node per batch.
      if (devArgs.length > 0) {
        await this.runner.run('xargs', ['-0', '-n', '6', 'mknod'], { input: `${devArgs.join('\0')}\0` });
      }
      if (fifoArgs.length > 0) {
        await this.runner.run('xargs', ['-0', '-n', '4', 'mknod'], { input: `${fifoArgs.join('\0')}\0` });
      }
      const memo = new Map<string, boolean>();
      nodes.forEach(([real, n], i) => {
        const tmp = `${staging}/${i}`;
        const st = this.intactParents(real, memo) ? lstat(real) : undefined;
        if (st === undefined || !st.isFile() || st.ino !== n.ino || st.dev !== n.dev) {
          unlinkSync(fsPath(tmp)); // replaced or removed by a later entry
          return;
        }
        renameSync(fsPath(tmp), fsPath(real));
        if (n.whiteout) return;
        const e = n.entry;
        if (!this.unprivileged) lchownSync(fsPath(real), e.uid, e.gid);
        chmodSync(fsPath(real), e.mode);
        lutimesSync(fsPath(real), e.mtime, e.mtime);
      });
    } finally {
      rmSync(fsPath(staging), { recursive: true, force: true });
    }
  }

  private whiteout(e: TarEntry, parts: string[]): undefined {
    const base = parts[parts.length - 1]!;
    const parentParts = parts.slice(0, -1);
    if (base === OPAQUE) {
      const dir = this.resolveDir(parentParts, true, e)!;
      if (this.overlay) this.setOpaque(dir);
      else this.clearLower(dir);
      return undefined;
    }
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..' || name.includes('/')) {
      throw unsafe(e, 'the whiteout names no entry of its directory');
    }
    if (parentParts.length === 0 && name === '') throw unsafe(e, 'the whiteout names the root');
    const parent = this.resolveDir(parentParts, this.overlay, e);
    if (parent === null) return undefined; // nothing below to hide
    const target = `${parent}/${name}`;
    const st = lstat(target);
    if (this.touched.has(target)) {
      // Entries of this layer survive its whiteouts; a directory it re-created loses the lower part.
      if (st?.isDirectory()) {
        if (this.overlay) this.setOpaque(target);
        else this.clearLower(target);
      }
      return undefined;
    }
    if (!this.overlay) {
      if (st !== undefined) this.remove(target, st);
      return undefined;
    }
    if (st !== undefined) this.remove(target, st);
    this.deferNode(target, e, true);
    this.touched.add(target);
    this.whiteoutsMade.add(target);
    return undefined;
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

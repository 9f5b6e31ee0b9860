/**
 * createLayer: a deterministic layer from a change set over a directory (contract in
 * ./layers.ts). Paths are byte strings internally (see tar/tar.ts).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { BrigError } from '../errors/errors.ts';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';
import { fsPath } from './apply.ts';
import type { Change } from './changes.ts';
import { type Compression, compressor, MEDIA_TYPES } from './compression.ts';
import { type TarEntry, type TarType, tarEntry } from './tar/tar.ts';
import { encodeHeader, endOfArchive, padding } from './tar/writer.ts';
import { readXattrs, readXattrsTree, type XattrTable } from './xattr.ts';

export interface CreateLayerOptions {
  root: string;
  changes: Change[] | 'all';
  compression: Compression;
  /** Upper bound for every mtime written (seconds), e.g. SOURCE_DATE_EPOCH. */
  mtimeClamp?: number;
  /** Receives the layer bytes; ended when the layer is complete. */
  output: NodeJS.WritableStream;
  runner?: CommandRunner;
}

export interface CreateLayerResult {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

type Item = 'node' | 'whiteout' | 'opaque';

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';
const CHUNK = 1 << 20;

/** The byte-string path of a change, checked to stay inside the tree. */
function changePath(c: Change): string {
  const p = c.rawPath ? c.rawPath.toString('latin1') : Buffer.from(c.path, 'utf8').toString('latin1');
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.length === 0 || parts.some((x) => x === '..')) {
    throw new BrigError(
      'ERR_INVALID_ARGUMENT',
      `change path ${JSON.stringify(c.path)} is not a path inside the tree`,
    );
  }
  return parts.join('/');
}

function rank(name: string): number {
  if (name === OPAQUE) return 0;
  return name.startsWith(WH) ? 1 : 2;
}

/** Tree order: parents first, whiteouts before their siblings, then bytewise by name. */
function compareParts(a: string[], b: string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    const r = rank(x) - rank(y);
    if (r !== 0) return r;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

function typeOf(st: Stats): TarType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets are not archived (GNU tar skips them too)
}

/** Linux's dev_t split (glibc gnu_dev_major/minor), in plain arithmetic for 64-bit values. */
export function devMajor(rdev: number): number {
  return (Math.floor(rdev / 256) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | (Math.floor(rdev / 4096) & ~0xff & 0xfffff00);
}

function walkAll(rootB: string, rel: string, plan: Map<string, Item>): void {
  const abs = rel === '' ? rootB : `${rootB}/${rel}`;
  for (const d of readdirSync(fsPath(abs), { encoding: 'buffer', withFileTypes: true })) {
    const name = (d.name as unknown as Buffer).toString('latin1');
    const r = rel === '' ? name : `${rel}/${name}`;
    plan.set(r, 'node');
    if (d.isDirectory()) walkAll(rootB, r, plan);
  }
}

function isDirAt(rootB: string, rel: string): boolean {
  return lstatSync(fsPath(`${rootB}/${rel}`), { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function addParents(rootB: string, rel: string, plan: Map<string, Item>): boolean {
  let i = rel.lastIndexOf('/');
  const parents: string[] = [];
  while (i > 0) {
    const p = rel.slice(0, i);
    if (plan.has(p)) break;
    parents.push(p);
    i = p.lastIndexOf('/');
  }
  for (const p of parents) if (!isDirAt(rootB, p)) return false;
  for (const p of parents) plan.set(p, 'node');
  return true;
}

export async function createLayer(opts: CreateLayerOptions): Promise<CreateLayerResult> {
  const rootReal = realpathSync(opts.root);
  const rootB = Buffer.from(rootReal, 'utf8').toString('latin1');
  const plan = new Map<string, Item>();
  if (opts.changes === 'all') {
    walkAll(rootB, '', plan);
  } else {
    for (const c of opts.changes) {
      const rel = changePath(c);
      const slash = rel.lastIndexOf('/');
      if (c.kind === 'delete') {
        if (!addParents(rootB, rel, plan)) continue; // its parent is gone too: nothing to hide
        plan.set(`${slash < 0 ? '' : `${rel.slice(0, slash)}/`}${WH}${rel.slice(slash + 1)}`, 'whiteout');
        continue;
      }
      if (lstatSync(fsPath(`${rootB}/${rel}`), { throwIfNoEntry: false }) === undefined) {
        throw new BrigError('ERR_NOT_FOUND', `changed path ${c.path} does not exist under ${opts.root}`);
      }
      if (!addParents(rootB, rel, plan)) {
        throw new BrigError('ERR_INVALID_ARGUMENT', `a parent of ${c.path} is not a directory`);
      }
      plan.set(rel, 'node');
      if (c.opaque) plan.set(`${rel}/${OPAQUE}`, 'opaque');
    }
  }
  const keys = [...plan.keys()].map((k) => ({ k, parts: k.split('/') }));
  keys.sort((a, b) => compareParts(a.parts, b.parts));

  const runner = opts.runner ?? hostRunner;
  const nodes = keys.filter((x) => plan.get(x.k) === 'node').map((x) => x.k);
  let xattrs: XattrTable;
  // One getfattr over the tree, or over the listed paths when they are few and valid UTF-8
  // (argv cannot carry other bytes).
  if (opts.changes === 'all' || nodes.length > 2000 || nodes.some((p) => /[\x80-\xff]/.test(p))) {
    xattrs = await readXattrsTree(rootReal, runner);
  } else {
    xattrs = await readXattrs(rootReal, nodes, runner);
  }

  const clamp = opts.mtimeClamp;
  const hashU = createHash('sha256');
  const hashC = opts.compression === 'none' ? null : createHash('sha256');
  let size = 0;

  async function* tarStream(): AsyncGenerator<Buffer> {
    const seen = new Map<string, string>();
    // Output is assembled in 1 MiB buffers; file content is read straight into them.
    let buf = Buffer.allocUnsafe(CHUNK);
    let len = 0;
    const take = () => {
      const b = buf.subarray(0, len);
      buf = Buffer.allocUnsafe(CHUNK);
      len = 0;
      return b;
    };
    function* put(b: Buffer): Generator<Buffer> {
      let off = 0;
      while (off < b.length) {
        const n = Math.min(b.length - off, CHUNK - len);
        b.copy(buf, len, off, off + n);
        len += n;
        off += n;
        if (len === CHUNK) yield take();
      }
    }
    for (const { k } of keys) {
      const item = plan.get(k)!;
      const base = tarEntry({ name: k, type: 'file' });
      if (item !== 'node') {
        // Whiteouts and opaque markers: empty files, mode 0, owner root, time 0 (or the clamp).
        base.mtime = clamp !== undefined ? Math.min(0, clamp) : 0;
        yield* put(encodeHeader(base));
        continue;
      }
      const abs = `${rootB}/${k}`;
      const st = lstatSync(fsPath(abs));
      const type = typeOf(st);
      if (type === null) continue;
      let mtime = Math.floor(st.mtimeMs / 1000);
      if (clamp !== undefined && mtime > clamp) mtime = clamp;
      const attrs = xattrs.get(k);
      let xa: Map<string, Buffer> | null = null;
      if (attrs) {
        for (const [n, v] of attrs) {
          if (n.startsWith('trusted.overlay.') || n.startsWith('user.overlay.')) continue;
          if (!(n.startsWith('user.') || n.startsWith('security.') || n.startsWith('trusted.'))) continue;
          xa ??= new Map();
          xa.set(n, v);
        }
      }
      const e: TarEntry = {
        ...base,
        name: type === 'dir' ? `${k}/` : k,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime,
        xattrs: xa,
      };
      if (type === 'symlink')
        e.linkname = (readlinkSync(fsPath(abs), { encoding: 'buffer' }) as Buffer).toString('latin1');
      if (type === 'char' || type === 'block') {
        e.devmajor = devMajor(st.rdev);
        e.devminor = devMinor(st.rdev);
      }
      if (type === 'file' && st.nlink > 1) {
        const id = `${st.dev}:${st.ino}`;
        const first = seen.get(id);
        if (first !== undefined) {
          e.type = 'hardlink';
          e.linkname = first;
          yield* put(encodeHeader(e));
          continue;
        }
        seen.set(id, k);
      }
      if (type !== 'file') {
        yield* put(encodeHeader(e));
        continue;
      }
      e.size = st.size;
      yield* put(encodeHeader(e));
      const fd = openSync(fsPath(abs), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        let left = st.size;
        while (left > 0) {
          const n = readSync(fd, buf, len, Math.min(CHUNK - len, left), null);
          if (n === 0) throw new BrigError('ERR_INTERNAL', `${k} shrank while it was being archived`);
          len += n;
          left -= n;
          if (len === CHUNK) yield take();
        }
      } finally {
        closeSync(fd);
      }
      yield* put(padding(st.size));
    }
    yield* put(endOfArchive());
    if (len > 0) yield take();
  }

  async function* hashTar(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of src) {
      hashU.update(c);
      if (hashC === null) size += c.length;
      yield c;
    }
  }
  async function* hashOut(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of src) {
      hashC!.update(c);
      size += c.length;
      yield c;
    }
  }
  if (opts.compression === 'none') {
    await pipeline(tarStream, hashTar, opts.output);
  } else {
    await pipeline(tarStream, hashTar, compressor(opts.compression), hashOut, opts.output);
  }
  const diffId = `sha256:${hashU.digest('hex')}`;
  return {
    digest: hashC === null ? diffId : `sha256:${hashC.digest('hex')}`,
    diffId,
    size,
    mediaType: MEDIA_TYPES[opts.compression],
  };
}

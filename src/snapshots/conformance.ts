/**
 * The snapshotter conformance suite: every Snapshotter implementation passes it.
 *
 *   snapshotterSuite('overlay', ({ db, dir }) => new OverlaySnapshotter(db, join(dir, 'overlay')))
 *
 * Metadata semantics and error codes run anywhere. Data tests mount the returned Mounts for real
 * (mount(8) through `mountAll`, as root, in the test's temporary directory) and unmount them in
 * `finally`; they check what a container would see: files of lower layers, deletions and opaque
 * directories of upper layers, read-only views, isolation between siblings, and that ownership,
 * modes, mtimes, xattrs, hard links and device nodes survive from a parent into its children.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import fc from 'fast-check';
import { requires } from '../../test/support/require.ts';
import { tempDir } from '../../test/support/tmp.ts';
import type { ErrorCode } from '../errors/catalogue.ts';
import { isBrigError } from '../errors/errors.ts';
import { type DB, openDatabase } from '../metadata/db.ts';
import { mountAll, unmountAll } from './mount.ts';
import type { Mount, Snapshotter } from './snapshotter.ts';

export type SnapshotterFactory = (ctx: { db: DB; dir: string }) => Snapshotter | Promise<Snapshotter>;

async function setup(
  t: TestContext,
  factory: SnapshotterFactory,
): Promise<{ s: Snapshotter; db: DB; dir: string }> {
  const dir = tempDir(t, 'brig-snap-');
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const s = await factory({ db, dir });
  return { s, db, dir };
}

async function rejectsCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isBrigError(e), `expected BrigError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

/** Mounts `mounts` on a fresh directory, runs fn, and always unmounts. */
async function withMounted<T>(
  dir: string,
  mounts: Mount[],
  fn: (root: string) => T | Promise<T>,
): Promise<T> {
  const target = join(dir, `mnt-${Math.random().toString(36).slice(2)}`);
  mkdirSync(target);
  await mountAll(mounts, target);
  try {
    return await fn(target);
  } finally {
    await unmountAll(mounts, target);
    rmSync(target, { recursive: true, force: true });
  }
}

export interface SuiteOptions {
  /**
   * Register the tests that mount the returned Mounts on this host (default true); false for a
   * snapshotter whose mounts this host cannot perform (zfs on the simulated FreeBSD host).
   */
  data?: boolean;
}

export function snapshotterSuite(name: string, factory: SnapshotterFactory, opts: SuiteOptions = {}): void {
  const data = opts.data ?? true;
  describe(`snapshotter conformance: ${name}`, () => {
    test('prepare, stat, commit, walk', async (t) => {
      const { s } = await setup(t, factory);
      const m = await s.prepare('a-active', undefined, { labels: { x: '1' } });
      assert.ok(m.length > 0);
      assert.deepEqual(await s.mounts('a-active'), m);
      const st = await s.stat('a-active');
      assert.equal(st.kind, 'active');
      assert.equal(st.parent, undefined);
      assert.deepEqual(st.labels, { x: '1' });
      await s.commit('a', 'a-active', { labels: { y: '2' } });
      await rejectsCode(s.stat('a-active'), 'ERR_SNAPSHOT_NOT_FOUND');
      const a = await s.stat('a');
      assert.equal(a.kind, 'committed');
      assert.deepEqual(a.labels, { x: '1', y: '2' });
      await s.prepare('b', 'a');
      await s.view('v', 'a');
      assert.equal((await s.stat('b')).parent, 'a');
      assert.equal((await s.stat('v')).kind, 'view');
      const seen: Record<string, string> = {};
      await s.walk((i) => {
        seen[i.name] = `${i.kind}:${i.parent ?? ''}`;
      });
      assert.deepEqual(seen, { a: 'committed:', b: 'active:a', v: 'view:a' });
    });

    test('error codes', async (t) => {
      const { s } = await setup(t, factory);
      await s.prepare('k');
      await rejectsCode(s.prepare('k'), 'ERR_SNAPSHOT_EXISTS');
      await rejectsCode(s.view('k'), 'ERR_SNAPSHOT_EXISTS');
      await rejectsCode(s.prepare('x', 'nope'), 'ERR_SNAPSHOT_NOT_FOUND');
      await rejectsCode(s.prepare('x', 'k'), 'ERR_SNAPSHOT_STATE');
      await rejectsCode(s.view('x', 'k'), 'ERR_SNAPSHOT_STATE');
      await rejectsCode(s.mounts('nope'), 'ERR_SNAPSHOT_NOT_FOUND');
      await rejectsCode(s.stat('nope'), 'ERR_SNAPSHOT_NOT_FOUND');
      await rejectsCode(s.remove('nope'), 'ERR_SNAPSHOT_NOT_FOUND');
      await rejectsCode(s.commit('c', 'nope'), 'ERR_SNAPSHOT_NOT_FOUND');
      await rejectsCode(s.prepare(''), 'ERR_INVALID_ARGUMENT');
      await s.commit('c', 'k');
      await rejectsCode(s.commit('d', 'c'), 'ERR_SNAPSHOT_STATE');
      await rejectsCode(s.prepare('c'), 'ERR_SNAPSHOT_EXISTS');
      await s.prepare('k2', 'c');
      await rejectsCode(s.commit('c', 'k2'), 'ERR_SNAPSHOT_EXISTS');
      await s.view('v', 'c');
      await rejectsCode(s.commit('vv', 'v'), 'ERR_SNAPSHOT_STATE');
      // the failed calls left nothing behind
      assert.deepEqual((await s.cleanup()).removed, []);
    });

    test('remove is refused while children exist', async (t) => {
      const { s } = await setup(t, factory);
      await s.prepare('base-a');
      await s.commit('base', 'base-a');
      await s.prepare('mid-a', 'base');
      await s.commit('mid', 'mid-a');
      await s.prepare('top', 'mid');
      await s.view('v', 'base');
      await rejectsCode(s.remove('base'), 'ERR_SNAPSHOT_IN_USE');
      await rejectsCode(s.remove('mid'), 'ERR_SNAPSHOT_IN_USE');
      await s.remove('top');
      await s.remove('mid');
      await rejectsCode(s.remove('base'), 'ERR_SNAPSHOT_IN_USE');
      await s.remove('v');
      await s.remove('base');
      const names: string[] = [];
      await s.walk((i) => {
        names.push(i.name);
      });
      assert.deepEqual(names, []);
      assert.deepEqual((await s.cleanup()).removed, []);
    });

    test('concurrent prepares of one key: exactly one wins, nothing leaks', async (t) => {
      const { s } = await setup(t, factory);
      await s.prepare('p-a');
      await s.commit('p', 'p-a');
      const r = await Promise.allSettled([
        s.prepare('same', 'p'),
        s.prepare('same', 'p'),
        s.prepare('same', 'p'),
      ]);
      assert.equal(r.filter((x) => x.status === 'fulfilled').length, 1);
      for (const x of r) if (x.status === 'rejected') assert.ok(isBrigError(x.reason, 'ERR_SNAPSHOT_EXISTS'));
      assert.deepEqual((await s.cleanup()).removed, []);
      const ra = await Promise.allSettled([s.commit('n', 'same'), s.commit('n', 'same')]);
      assert.equal(ra.filter((x) => x.status === 'fulfilled').length, 1);
    });

    test('a parent cannot be removed while a child is being prepared on it', async (t) => {
      const { s } = await setup(t, factory);
      await s.prepare('p-a');
      await s.commit('p', 'p-a');
      const child = s.prepare('c', 'p');
      await rejectsCode(s.remove('p'), 'ERR_SNAPSHOT_IN_USE');
      await child;
      assert.equal((await s.stat('c')).parent, 'p');
    });

    test('cleanup removes storage no metadata names (crash after the directory step)', async (t) => {
      const { s, db } = await setup(t, factory);
      await s.prepare('keep');
      await s.prepare('lost');
      const dw = await s.directWrite('lost');
      if (dw) writeFileSync(join(dw.root, 'f'), 'x');
      // what a crash between the storage step and the metadata step leaves
      db.prepare('DELETE FROM snapshots WHERE driver = ? AND key = ?').run(s.driver, 'lost');
      const { removed } = await s.cleanup();
      assert.ok(removed.length >= 1);
      if (dw) assert.equal(existsSync(dw.root), false);
      await s.stat('keep');
      const kw = await s.directWrite('keep');
      if (kw) assert.equal(existsSync(kw.root), true);
      assert.deepEqual((await s.cleanup()).removed, []);
      await s.prepare('lost');
    });

    test('usage counts what was written', async (t) => {
      const { s } = await setup(t, factory);
      await s.prepare('u');
      const before = await s.usage('u');
      const dw = await s.directWrite('u');
      if (!dw) return t.skip('no directWrite; covered by the mounted tests');
      writeFileSync(join(dw.root, 'big'), Buffer.alloc(256 * 1024, 1));
      const after = await s.usage('u');
      assert.ok(after.size >= before.size + 256 * 1024);
      assert.equal(after.inodes, before.inodes + 1);
    });

    test('property: any sequence of operations behaves like the model', async (t) => {
      type Op =
        | { op: 'prepare' | 'view'; key: string; parent?: string }
        | { op: 'commit'; name: string; key: string }
        | { op: 'remove'; key: string };
      const name = fc.constantFrom('a', 'b', 'c', 'd', 'e');
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        fc.record(
          {
            op: fc.constantFrom('prepare' as const, 'view' as const),
            key: name,
            parent: fc.option(name, { nil: undefined }),
          },
          { requiredKeys: ['op', 'key'] },
        ),
        fc.record({ op: fc.constant('commit' as const), name, key: name }),
        fc.record({ op: fc.constant('remove' as const), key: name }),
      );
      const base = tempDir(t, 'brig-snap-model-');
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 14 }), async (ops) => {
          const dir = join(base, String(run++));
          mkdirSync(dir);
          const db = openDatabase(join(dir, 'brig.db'));
          try {
            const s = await factory({ db, dir });
            const model = new Map<
              string,
              { kind: 'active' | 'view' | 'committed'; parent: string | undefined }
            >();
            for (const o of ops) {
              // every error a correct implementation may give for this operation in this state
              const allowed = new Set<ErrorCode>();
              let apply: () => void = () => {};
              if (o.op === 'prepare' || o.op === 'view') {
                if (model.has(o.key)) allowed.add('ERR_SNAPSHOT_EXISTS');
                if (o.parent !== undefined && !model.has(o.parent)) allowed.add('ERR_SNAPSHOT_NOT_FOUND');
                else if (o.parent !== undefined && model.get(o.parent)!.kind !== 'committed')
                  allowed.add('ERR_SNAPSHOT_STATE');
                apply = () =>
                  model.set(o.key, { kind: o.op === 'prepare' ? 'active' : 'view', parent: o.parent });
              } else if (o.op === 'commit') {
                const k = model.get(o.key);
                if (!k) allowed.add('ERR_SNAPSHOT_NOT_FOUND');
                else if (k.kind !== 'active') allowed.add('ERR_SNAPSHOT_STATE');
                if (model.has(o.name)) allowed.add('ERR_SNAPSHOT_EXISTS');
                apply = () => {
                  model.delete(o.key);
                  model.set(o.name, { kind: 'committed', parent: k!.parent });
                };
              } else {
                if (!model.has(o.key)) allowed.add('ERR_SNAPSHOT_NOT_FOUND');
                else if ([...model.values()].some((v) => v.parent === o.key))
                  allowed.add('ERR_SNAPSHOT_IN_USE');
                apply = () => model.delete(o.key);
              }
              const call =
                o.op === 'prepare'
                  ? s.prepare(o.key, o.parent)
                  : o.op === 'view'
                    ? s.view(o.key, o.parent)
                    : o.op === 'commit'
                      ? s.commit(o.name, o.key)
                      : s.remove(o.key);
              let code: ErrorCode | undefined;
              try {
                await call;
              } catch (e) {
                if (!isBrigError(e)) throw e;
                code = e.code;
              }
              if (allowed.size === 0) {
                assert.equal(code, undefined, `${JSON.stringify(o)} failed with ${code}`);
                apply();
              } else {
                assert.ok(
                  code && allowed.has(code),
                  `${JSON.stringify(o)}: got ${code}, expected one of ${[...allowed]}`,
                );
              }
              const seen = new Map<string, string>();
              await s.walk((i) => {
                seen.set(i.name, `${i.kind}:${i.parent ?? ''}`);
              });
              assert.deepEqual(seen, new Map([...model].map(([k, v]) => [k, `${v.kind}:${v.parent ?? ''}`])));
            }
            assert.deepEqual((await s.cleanup()).removed, []);
          } finally {
            db.close();
          }
        }),
        { numRuns: 40 },
      );
    });

    test('directWrite refuses committed snapshots and views', async (t) => {
      const { s } = await setup(t, factory);
      await s.prepare('a');
      if (!(await s.directWrite('a'))) return;
      await s.commit('c', 'a');
      await rejectsCode(s.directWrite('c'), 'ERR_SNAPSHOT_STATE');
      await s.view('v', 'c');
      await rejectsCode(s.directWrite('v'), 'ERR_SNAPSHOT_STATE');
    });

    if (data) {
      test(
        'data through the mounts: parent chains, deletions, opaque dirs, views',
        requires({ root: true, commands: ['mount', 'umount'] }),
        async (t) => {
          const { s, dir } = await setup(t, factory);
          await withMounted(dir, await s.prepare('l1-a'), (r) => {
            writeFileSync(join(r, 'a.txt'), 'from l1');
            mkdirSync(join(r, 'keep'));
            writeFileSync(join(r, 'keep', 'b.txt'), 'b');
            mkdirSync(join(r, 'opq'));
            writeFileSync(join(r, 'opq', 'old1'), '1');
            writeFileSync(join(r, 'opq', 'old2'), '2');
          });
          await s.commit('l1', 'l1-a');
          await withMounted(dir, await s.prepare('l2-a', 'l1'), (r) => {
            assert.equal(readFileSync(join(r, 'a.txt'), 'utf8'), 'from l1');
            rmSync(join(r, 'a.txt'));
            rmSync(join(r, 'opq'), { recursive: true });
            mkdirSync(join(r, 'opq'));
            writeFileSync(join(r, 'opq', 'new'), 'n');
            writeFileSync(join(r, 'keep', 'b.txt'), 'b2');
          });
          await s.commit('l2', 'l2-a');
          // the lower layer is unchanged
          await withMounted(dir, await s.view('v1', 'l1'), (r) => {
            assert.equal(readFileSync(join(r, 'a.txt'), 'utf8'), 'from l1');
            assert.deepEqual(readdirSync(join(r, 'opq')).sort(), ['old1', 'old2']);
            assert.equal(readFileSync(join(r, 'keep', 'b.txt'), 'utf8'), 'b');
          });
          // the upper layer hides what it deleted
          await withMounted(dir, await s.view('v2', 'l2'), (r) => {
            assert.equal(existsSync(join(r, 'a.txt')), false);
            assert.deepEqual(readdirSync(join(r, 'opq')), ['new']);
            assert.equal(readFileSync(join(r, 'keep', 'b.txt'), 'utf8'), 'b2');
            assert.throws(
              () => writeFileSync(join(r, 'nope'), 'x'),
              (e: NodeJS.ErrnoException) => e.code === 'EROFS',
            );
          });
          // two siblings do not see each other's writes
          const c1 = await s.prepare('c1', 'l2');
          const c2 = await s.prepare('c2', 'l2');
          await withMounted(dir, c1, (r) => writeFileSync(join(r, 'mine'), '1'));
          await withMounted(dir, c2, (r) => {
            assert.equal(existsSync(join(r, 'mine')), false);
            assert.deepEqual(readdirSync(r).sort(), ['keep', 'opq']);
          });
          await withMounted(dir, await s.mounts('c1'), (r) =>
            assert.equal(readFileSync(join(r, 'mine'), 'utf8'), '1'),
          );
          // an empty view and an empty active snapshot
          await withMounted(dir, await s.view('e'), (r) => assert.deepEqual(readdirSync(r), []));
          for (const k of ['c1', 'c2', 'v1', 'v2', 'e', 'l2', 'l1']) await s.remove(k);
          assert.deepEqual((await s.cleanup()).removed, []);
        },
      );

      test(
        'metadata survives into children: owner, mode, mtime, xattr, hard links, devices',
        requires({ root: true, commands: ['mount', 'umount', 'setfattr', 'getfattr', 'mknod'] }),
        async (t) => {
          const { s, dir } = await setup(t, factory);
          const mtime = new Date('2001-02-03T04:05:06Z');
          await withMounted(dir, await s.prepare('base-a'), (r) => {
            const f = join(r, 'f');
            writeFileSync(f, 'data');
            chownSync(f, 1234, 5678);
            chmodSync(f, 0o4750);
            execFileSync('setfattr', ['-n', 'user.brig', '-v', 'yes', f]);
            utimesSync(f, mtime, mtime);
            linkSync(f, join(r, 'f-link'));
            execFileSync('mknod', ['-m', '0620', join(r, 'dev'), 'c', '1', '3']);
            mkdirSync(join(r, 'd'), { mode: 0o700 });
            chownSync(join(r, 'd'), 42, 43);
          });
          await s.commit('base', 'base-a');
          await withMounted(dir, await s.prepare('child', 'base'), (r) => {
            const st = statSync(join(r, 'f'));
            assert.equal(st.uid, 1234);
            assert.equal(st.gid, 5678);
            assert.equal(st.mode & 0o7777, 0o4750);
            assert.equal(st.mtimeMs, mtime.getTime());
            assert.equal(st.nlink, 2);
            assert.equal(statSync(join(r, 'f-link')).ino, st.ino);
            const xattr = execFileSync('getfattr', [
              '--absolute-names',
              '--only-values',
              '-n',
              'user.brig',
              join(r, 'f'),
            ]);
            assert.equal(xattr.toString(), 'yes');
            const dev = statSync(join(r, 'dev'));
            assert.ok(dev.isCharacterDevice());
            assert.equal(dev.rdev, (1 << 8) | 3);
            const d = statSync(join(r, 'd'));
            assert.equal(d.mode & 0o7777, 0o700);
            assert.equal(d.uid, 42);
          });
        },
      );
    }
  });
}

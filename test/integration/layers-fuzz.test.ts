/**
 * Property: whatever a tar says, applying it changes nothing outside the root. Random layers
 * are built from a small vocabulary of names that aim outside (`..`, absolute paths into the
 * sentinel, symlinks to it, whiteouts, hardlinks, replaced directories) and applied in both
 * whiteout modes; the sentinel tree beside the root must be unchanged and every failure must
 * be a BrigError with an ERR_LAYER_* code (or an error of the tree's own making:
 * ERR_PERMISSION_DENIED never; nothing untyped).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { BrigError } from '../../src/errors/errors.ts';
import { applyLayer } from '../../src/layers/index.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { chunks, diffSnapshots, snapshot, type TarInput, tarOf } from './layers-helpers.ts';

const ALLOWED = new Set(['ERR_LAYER_UNSAFE_PATH', 'ERR_LAYER_INVALID', 'ERR_LAYER_DEVICE_REFUSED']);

describe(
  'random hostile layers',
  requires({ root: true, commands: ['getfattr', 'setfattr', 'mknod', 'xargs'] }),
  () => {
    test('never change anything outside the root', async (t) => {
      const base = tempDir(t, 'brig-fuzz-');
      const s = join(base, 'sentinel');
      mkdirSync(join(s, 'dir'), { recursive: true });
      writeFileSync(join(s, 'file'), 'sentinel');
      writeFileSync(join(s, 'dir', 'inner'), 'inner');
      symlinkSync('file', join(s, 'link'));
      for (const p of ['file', 'dir/inner', 'dir', '.']) utimesSync(join(s, p), 1000, 1000);
      const root = join(base, 'root');
      mkdirSync(root);
      const snapOpts = { exclude: ['root'], xattrs: true };
      const before = snapshot(base, snapOpts);

      // Few `..` and few absolute names, so that most layers run long enough for their
      // symlinks and replaced directories to be used by later entries.
      const seg = fc.oneof(
        { arbitrary: fc.constantFrom('a', 'b', 'dir', 'file', 'inner', 'link', 'sentinel'), weight: 12 },
        { arbitrary: fc.constantFrom('.wh.file', '.wh.a', '.wh.dir', '.wh..wh..opq', '.'), weight: 3 },
        { arbitrary: fc.constant('..'), weight: 1 },
      );
      const name = fc.oneof(
        { arbitrary: fc.array(seg, { minLength: 1, maxLength: 4 }).map((p) => p.join('/')), weight: 8 },
        {
          arbitrary: fc.array(seg, { minLength: 0, maxLength: 3 }).map((p) => [s, ...p].join('/')),
          weight: 1,
        },
        {
          arbitrary: fc
            .array(seg, { minLength: 0, maxLength: 3 })
            .map((p) => ['..', 'sentinel', ...p].join('/')),
          weight: 1,
        },
      );
      const target = fc.oneof(
        { arbitrary: name, weight: 1 },
        {
          arbitrary: fc.constantFrom(
            s,
            `${s}/dir`,
            `${s}/file`,
            '/',
            '../../..',
            '../sentinel',
            '../sentinel/file',
            base,
          ),
          weight: 2,
        },
      );
      const entry: fc.Arbitrary<TarInput> = fc.oneof(
        fc.record({ name, data: fc.constantFrom('pwned', '') }),
        fc.record({ name, type: fc.constant('dir' as const), mode: fc.constantFrom(0o777, 0o700, 0o1777) }),
        fc.record({ name, type: fc.constant('symlink' as const), linkname: target }),
        fc.record({ name, type: fc.constant('hardlink' as const), linkname: target }),
        fc.record({
          name,
          type: fc.constantFrom('fifo' as const, 'char' as const),
          devmajor: fc.constant(1),
          devminor: fc.constant(3),
        }),
        fc.record({
          name,
          data: fc.constant('x'),
          xattrs: fc.constant(new Map([['user.pwned', Buffer.from('1')]])),
        }),
      );
      let runs = 0;
      let failures = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(entry, { minLength: 1, maxLength: 8 }),
          fc.constantFrom<'delete' | 'overlay'>('delete', 'overlay'),
          async (entries, whiteouts) => {
            // empty the root but keep it: recreating it would change the parent's mtime
            for (const n of readdirSync(root)) rmSync(join(root, n), { recursive: true, force: true });
            runs++;
            try {
              await applyLayer(chunks(tarOf(entries), 700), { root, whiteouts });
            } catch (e) {
              failures++;
              assert.ok(
                e instanceof BrigError && ALLOWED.has(e.code),
                `unexpected error: ${(e as Error).stack}`,
              );
            }
            assert.deepEqual(diffSnapshots(before, snapshot(base, snapOpts)), []);
          },
        ),
        { numRuns: 300 },
      );
      assert.equal(runs, 300);
      assert.ok(
        failures > 0 && failures < runs,
        `both outcomes were exercised (${failures} of ${runs} failed)`,
      );
    });
  },
);

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { ExportJournal } from './exports.ts';

test('an export is recorded while it runs, and the record goes when it ends, even on failure', async (t) => {
  const root = tempDir(t);
  const j = new ExportJournal(root);
  const seen = await j.track('/x/out.tar', async () =>
    readdirSync(j.dir).map((n) => readFileSync(join(j.dir, n), 'utf8')),
  );
  assert.deepEqual(seen, ['/x/out.tar']);
  await assert.rejects(
    j.track('/x/out.tar', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.deepEqual(readdirSync(j.dir), []);
});

test('sweep removes the temporaries of recorded exports, and nothing else', async (t) => {
  const root = tempDir(t);
  const out = tempDir(t);
  const j = new ExportJournal(root);
  mkdirSync(j.dir);
  writeFileSync(join(j.dir, 'a'), join(out, 'big.tar'));
  writeFileSync(join(j.dir, 'b'), join(out, 'lay'));
  writeFileSync(join(j.dir, 'c'), 'not/absolute');
  const keep = [
    'big.tar', // DEST itself (an earlier export's result)
    '.other.tar.brig-export-0123456789ab', // another destination's temporary: not recorded
    '.big.tar.brig-export-xyz', // not the pattern
    '.big.tar.brig-export-0123456789abc',
  ];
  for (const k of keep) writeFileSync(join(out, k), 'x');
  writeFileSync(join(out, '.big.tar.brig-export-1a2cbd2c5349'), 'partial');
  mkdirSync(join(out, '.lay.brig-export-b9fafa07964d', 'blobs', 'sha256'), { recursive: true });
  const removed = await j.sweep();
  assert.deepEqual(
    removed.sort(),
    [join(out, '.big.tar.brig-export-1a2cbd2c5349'), join(out, '.lay.brig-export-b9fafa07964d')].sort(),
  );
  assert.deepEqual(readdirSync(out).sort(), [...keep].sort());
  assert.deepEqual(readdirSync(j.dir), []);
  assert.deepEqual(await new ExportJournal(tempDir(t)).sweep(), []);
  assert.equal(existsSync(join(out, 'big.tar')), true);
});

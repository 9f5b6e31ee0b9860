/**
 * Design §2's rules that a grep can hold: only src/platform/ knows the operating system
 * (`process.platform`), and only src/platform/exec.ts starts processes (`node:child_process`).
 * Test code (*.test.ts, the shared conformance suites) may use child_process for oracles.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve(import.meta.dirname, '../../src');

function sources(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (n.endsWith('.ts') && !n.endsWith('.test.ts') && n !== 'conformance.ts') out.push(p);
  }
  return out;
}

test('only src/platform knows the OS; only src/platform/exec.ts starts processes', () => {
  const files = sources(SRC).map((f) => ({ rel: relative(SRC, f), text: readFileSync(f, 'utf8') }));
  assert.ok(files.length > 50);
  const osOutside = files.filter((f) => !f.rel.startsWith('platform/') && /process\.platform\b/.test(f.text));
  assert.deepEqual(
    osOutside.map((f) => f.rel),
    [],
  );
  const spawners = files.filter(
    (f) =>
      f.rel !== 'platform/exec.ts' &&
      /from ['"](node:)?child_process['"]|require\(['"](node:)?child_process/.test(f.text),
  );
  assert.deepEqual(
    spawners.map((f) => f.rel),
    [],
  );
});

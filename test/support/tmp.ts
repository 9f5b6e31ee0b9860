import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh temporary directory removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'brig-test-'): string {
  const dir = mkdtempSync(join(process.env.BRIG_TEST_TMP ?? tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

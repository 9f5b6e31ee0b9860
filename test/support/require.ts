/**
 * What a test needs from the host, and an honest skip when it is missing.
 * Under BRIG_TEST_REQUIRE_ALL=1 (set by .ci/run) a missing requirement fails the test instead.
 */
import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';

export function hasCommand(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/bin'])) {
    try {
      accessSync(`${dir}/${cmd}`, constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Returns a reason to skip, or undefined when everything is there. */
export function missing(needs: { root?: boolean; commands?: string[]; linux?: boolean }): string | undefined {
  if (needs.linux && process.platform !== 'linux') return 'needs Linux';
  if (needs.root && !isRoot) return 'needs root';
  for (const c of needs.commands ?? []) if (!hasCommand(c)) return `needs ${c} (scripts/setup installs it)`;
  return undefined;
}

/**
 * Options for `test()`/`describe()`: `{ skip: reason }` when something is missing, or throws under
 * BRIG_TEST_REQUIRE_ALL=1 so CI fails loudly.
 */
export function requires(needs: { root?: boolean; commands?: string[]; linux?: boolean }): { skip?: string } {
  const why = missing(needs);
  if (!why) return {};
  if (process.env.BRIG_TEST_REQUIRE_ALL === '1') {
    throw new Error(`BRIG_TEST_REQUIRE_ALL=1 and a test cannot run: ${why}`);
  }
  return { skip: why };
}

export function skipUnless(t: TestContext, needs: { root?: boolean; commands?: string[] }): boolean {
  const opts = requires(needs);
  if (opts.skip) {
    t.skip(opts.skip);
    return false;
  }
  return true;
}

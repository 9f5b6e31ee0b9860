/**
 * The installed `brig`: dist/brig.cjs, a CommonJS bundle (node loads a CommonJS entry ~4 ms
 * sooner than an ES module one; bench/README.md, "CLI start-up"). It dispatches exactly as
 * main.ts (dist/brig.mjs) does: `--version` alone is answered here; `run`, `push` and `pull` in
 * their common forms run from the CommonJS bundle dist/brig-fast.cjs (./fast-paths.ts), required
 * only for these verbs; everything else imports the ES module program beside this file
 * (dist/brig-full.mjs, ./via-program.ts). Same output, same exit statuses (test/e2e/
 * cli-entry.test.ts runs both entries side by side).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VERSION } from '../version.ts';
import { endOnClosedOutput, isVersion, settle, verb } from './entry.ts';

const args = process.argv.slice(2);
endOnClosedOutput();

if (isVersion(args)) {
  process.stdout.write(`brig version ${VERSION}\n`);
} else {
  // a computed specifier: esbuild leaves this import() alone, node loads the ES module bundle
  const viaProgram = (): Promise<number> =>
    (
      import(pathToFileURL(join(__dirname, 'brig-full.mjs')).href) as Promise<
        typeof import('./via-program.ts')
      >
    ).then((m) => m.viaProgram(process.argv));
  const fast = (): typeof import('./fast-paths.ts') => require(join(__dirname, 'brig-fast.cjs'));
  const v = verb(args);
  settle(
    v === 'run'
      ? fast()
          .runFast(args)
          .then((c) => c ?? viaProgram())
      : v === 'push' || v === 'pull'
        ? fast()
            .registryFast(args)
            .then((c) => c ?? viaProgram())
        : viaProgram(),
  );
}

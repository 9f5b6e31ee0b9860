/**
 * The installed `brig`: dist/brig.cjs, a CommonJS bundle (node loads a CommonJS entry ~4 ms
 * sooner than an ES module one; bench/README.md, "CLI start-up"). It dispatches exactly as
 * main.ts (dist/brig.mjs) does: `--version` alone is answered here; `run`, `push` and `pull` in
 * their common forms run from this bundle (./commands/run-fast.ts, ./commands/registry-fast.ts,
 * evaluated only when used); everything else imports the ES module program beside this file
 * (dist/brig-full.mjs, ./via-program.ts). Same output, same exit statuses (test/e2e/
 * cli-entry.test.ts runs both entries side by side).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VERSION } from '../version.ts';
import { isVersion, settle, verb } from './entry.ts';

const args = process.argv.slice(2);

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
  const v = verb(args);
  settle(
    v === 'run'
      ? import('./commands/run-fast.ts').then((f) => f.runFast(args) ?? viaProgram())
      : v === 'push' || v === 'pull'
        ? import('./commands/registry-fast.ts').then((f) => f.registryFast(args) ?? viaProgram())
        : viaProgram(),
  );
}

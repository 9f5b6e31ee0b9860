/**
 * brig: the command-line client of brigd. It holds no logic and never touches the daemon's state:
 * every verb is one file in ./commands that calls the API through src/client.
 * Exit status: 0 success, 125 brig's own error, the container's status for `run` without -d.
 *
 * This is the ES module entry, dist/brig.mjs; the installed `brig` is the CommonJS entry
 * dist/brig.cjs (./main-cjs.ts), which dispatches the same way and starts ~4 ms sooner.
 * `brig --version` alone is answered here, before the program (commander and every command) is
 * loaded: the bundle's lazy import keeps that start-up close to node's own (bench/README.md).
 * `brig run` in its common forms is parsed without commander (./commands/run-fast.ts); its other
 * forms load commander and the run command only (their own chunk): the other verbs (and their
 * dependencies, e.g. cli-progress) are not read for it. `brig push` and `brig pull` in their common
 * forms likewise skip commander (./commands/registry-fast.ts). `brig --help` loads them all
 * (./via-program.ts).
 */
import { VERSION } from '../version.ts';
import { endOnClosedOutput, isVersion, settle, verb } from './entry.ts';

const args = process.argv.slice(2);
endOnClosedOutput();

if (isVersion(args)) {
  process.stdout.write(`brig version ${VERSION}\n`);
} else {
  const viaProgram = (): Promise<number> =>
    import('./via-program.ts').then((m) => m.viaProgram(process.argv));
  const v = verb(args);
  settle(
    v === 'run'
      ? import('./commands/run-fast.ts').then((f) => f.runFast(args) ?? viaProgram())
      : v === 'push' || v === 'pull'
        ? import('./commands/registry-fast.ts').then((f) => f.registryFast(args) ?? viaProgram())
        : viaProgram(),
  );
}

/**
 * brig: the command-line client of brigd. It holds no logic and never touches the daemon's state:
 * every verb is one file in ./commands that calls the API through src/client.
 * Exit status: 0 success, 125 brig's own error, the container's status for `run` without -d.
 *
 * `brig --version` alone is answered here, before the program (commander and every command) is
 * loaded: the bundle's lazy import keeps that start-up close to node's own (bench/README.md).
 * `brig run` in its common forms is parsed without commander (./commands/run-fast.ts); its other
 * forms load commander and the run command only (their own chunk): the other verbs (and their
 * dependencies, e.g. cli-progress) are not read for it. `brig push` and `brig pull` in their common
 * forms likewise skip commander (./commands/registry-fast.ts). `brig --help` loads them all.
 */
import { VERSION } from '../version.ts';

const EXIT_BRIG_ERROR = 125;

const args = process.argv.slice(2);

/** The verb: the first argument that is not a global option (-H/--host take a value). */
function verb(): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-H' || a === '--host') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write(`brig version ${VERSION}\n`);
} else {
  const viaProgram = (): Promise<number> => {
    const modules =
      verb() === 'run'
        ? import('./commands/run.ts').then((m) => [m])
        : import('./commands/index.ts').then((m) => m.COMMAND_MODULES);
    return Promise.all([import('./program.ts'), modules]).then(([p, m]) => p.runProgram(process.argv, m));
  };
  // `brig run`, `brig push` and `brig pull` in their common forms: ./commands/run-fast.ts and
  // ./commands/registry-fast.ts (the header above)
  const v = verb();
  const main =
    v === 'run'
      ? import('./commands/run-fast.ts').then((f) => f.runFast(args) ?? viaProgram())
      : v === 'push' || v === 'pull'
        ? import('./commands/registry-fast.ts').then((f) => f.registryFast(args) ?? viaProgram())
        : viaProgram();
  main
    .then(
      (code) => code,
      (e: unknown) => {
        process.stderr.write(`Error: ${(e as Error)?.stack ?? String(e)}\n`);
        return EXIT_BRIG_ERROR;
      },
    )
    .then(
      (code) => {
        process.exitCode = code;
      },
      () => {
        process.exitCode = EXIT_BRIG_ERROR;
      },
    );
}

/**
 * brig: the command-line client of brigd. It holds no logic and never touches the daemon's state:
 * every verb is one file in ./commands that calls the API through src/client.
 * Exit status: 0 success, 125 brig's own error, the container's status for `run` without -d.
 *
 * `brig --version` alone is answered here, before the program (commander and every command) is
 * loaded: the bundle's lazy import keeps that start-up close to node's own (bench/README.md).
 */
import { VERSION } from '../version.ts';

const EXIT_BRIG_ERROR = 125;

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  process.stdout.write(`brig version ${VERSION}\n`);
} else {
  import('./program.ts')
    .then(
      (p) => p.runProgram(process.argv),
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

/**
 * The whole program: commander and the commands, for every form the fast paths do not take.
 * `brig run` loads the run command only (its own chunk); other verbs load them all.
 * An entry of its own in the ES module build (dist/brig-full.mjs), so the CommonJS entry
 * (main-cjs.ts) can import it; main.ts imports it too.
 */
import { verb } from './entry.ts';

/** `argv`: process.argv. Resolves to the exit status. */
export function viaProgram(argv: string[]): Promise<number> {
  const modules =
    verb(argv.slice(2)) === 'run'
      ? import('./commands/run.ts').then((m) => [m])
      : import('./commands/index.ts').then((m) => m.COMMAND_MODULES);
  return Promise.all([import('./program.ts'), modules]).then(([p, m]) => p.runProgram(argv, m));
}

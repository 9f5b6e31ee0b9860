/**
 * What the CLI's two entries share (main.ts, the ES module dist/brig.mjs; main-cjs.ts, the
 * CommonJS dist/brig.cjs): finding the verb, and turning a command's outcome into the exit status.
 * This module imports nothing, so both entries can load it at no cost.
 */

/** brig's own error (the API failed, bad arguments, a bug). */
export const EXIT_BRIG_ERROR = 125;

/** `brig --version` / `brig -v` alone: answered by the entry without loading anything. */
export function isVersion(args: readonly string[]): boolean {
  return args.length === 1 && (args[0] === '--version' || args[0] === '-v');
}

/** The verb: the first argument that is not a global option (-H/--host take a value). */
export function verb(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-H' || a === '--host') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** Sets process.exitCode from the command's outcome; what it throws is printed, status 125. */
export function settle(main: Promise<number>): void {
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

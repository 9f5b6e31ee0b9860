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

/**
 * A reader that goes away (`brig images | head -1`) ends brig as it ends docker and podman: they
 * are Go programs, killed by SIGPIPE at their next write, with no message; a shell sees 141
 * (128 + SIGPIPE; measured with `(podman images) | true`). Node ignores SIGPIPE, so brig's writes
 * fail with EPIPE instead and, without this, crashed with an 'error' stack trace and status 1.
 * On the first EPIPE on stdout or stderr, brig restores SIGPIPE's default action (adding and then
 * removing a listener makes node reset it to SIG_DFL), sends it to itself and, should it still
 * run, exits 141. Nothing more is written; a request in flight is abandoned. Other write errors
 * are thrown as before.
 */
export function endOnClosedOutput(): void {
  const closed = (e: NodeJS.ErrnoException) => {
    if (e?.code !== 'EPIPE') throw e;
    const none = () => {};
    process.on('SIGPIPE', none);
    process.off('SIGPIPE', none);
    process.kill(process.pid, 'SIGPIPE');
    process.exit(128 + 13);
  };
  process.stdout.on('error', closed);
  process.stderr.on('error', closed);
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

/**
 * How the CLI reports a failure: `Error: message` and `Hint: hint` on stderr for a BrigError,
 * the stack for anything else; the result is brig's own exit status, 125.
 */
import { isBrigError } from '../errors/errors.ts';
import { EXIT_BRIG_ERROR } from './entry.ts';

export { EXIT_BRIG_ERROR };

export function reportError(e: unknown): number {
  if (isBrigError(e)) {
    process.stderr.write(`Error: ${e.message}\n`);
    if (e.hint) process.stderr.write(`Hint: ${e.hint}\n`);
    return EXIT_BRIG_ERROR;
  }
  process.stderr.write(`Error: ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT_BRIG_ERROR;
}

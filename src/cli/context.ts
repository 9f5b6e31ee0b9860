import type { Command } from 'commander';
import { BrigClient, socketFromHost } from '../client/client.ts';
import { isBrigError } from '../errors/errors.ts';
import { EXIT_BRIG_ERROR } from './entry.ts';

export interface CliContext {
  /** The client for --host / BRIG_HOST / the default socket. */
  client(): BrigClient;
  /** The socket path for --host / BRIG_HOST / the default (for requests written without the client). */
  socketPath(): string;
  /** Exit status to use when the command returns (run without -d sets the container's). */
  exitCode: number;
}

export function createContext(program: Command): CliContext {
  let c: BrigClient | undefined;
  const socketPath = () =>
    socketFromHost((program.opts() as { host?: string }).host ?? process.env.BRIG_HOST);
  return {
    client() {
      c ??= new BrigClient(socketPath());
      return c;
    },
    socketPath,
    exitCode: 0,
  };
}

/**
 * Runs `op` for each of `names` in turn. With one name its error is the command's; with several,
 * a BrigError is printed (`Error: message`), the other names still run and the command exits
 * with 125. Anything else is thrown at once.
 */
export async function eachName(
  ctx: CliContext,
  names: readonly string[],
  op: (name: string) => Promise<void>,
): Promise<void> {
  for (const n of names) {
    try {
      await op(n);
    } catch (e) {
      if (!isBrigError(e) || names.length === 1) throw e;
      process.stderr.write(`Error: ${e.message}\n`);
      ctx.exitCode = EXIT_BRIG_ERROR;
    }
  }
}

/** commander collector for repeatable options (-e A -e B). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

import type { Command } from 'commander';
import { BrigClient, socketFromHost } from '../client/client.ts';

export interface CliContext {
  /** The client for --host / BRIG_HOST / the default socket. */
  client(): BrigClient;
  /** Exit status to use when the command returns (run without -d sets the container's). */
  exitCode: number;
}

export function createContext(program: Command): CliContext {
  let c: BrigClient | undefined;
  return {
    client() {
      const host = (program.opts() as { host?: string }).host ?? process.env.BRIG_HOST;
      c ??= new BrigClient(socketFromHost(host));
      return c;
    },
    exitCode: 0,
  };
}

/** commander collector for repeatable options (-e A -e B). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

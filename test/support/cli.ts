/**
 * The commander oracle of the CLI's fast paths (src/cli/commands/*-fast.ts): a program set up as
 * src/cli/program.ts sets it up (the global --host, positional options), silent and throwing
 * instead of exiting, with the verbs of `modules` registered on a context without a client.
 */
import assert from 'node:assert/strict';
import { Command } from 'commander';
import type { CliContext } from '../../src/cli/context.ts';
import type { CommandModule } from '../../src/cli/program.ts';

export function commanderProgram(modules: readonly CommandModule[]): Command {
  const program = new Command('brig')
    .option('-H, --host <unix://path>')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .enablePositionalOptions();
  const ctx = { client: () => assert.fail('no client'), exitCode: 0 } as unknown as CliContext;
  for (const m of modules) m.register(program, ctx);
  return program;
}

/** `{ host }` when the arguments gave the global --host, `{}` otherwise. */
export function hostOf(program: Command): { host?: string } {
  const host = (program.opts() as { host?: string }).host;
  return host !== undefined ? { host } : {};
}

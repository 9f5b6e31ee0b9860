/**
 * brig's program: every verb (one file each in ./commands) registered on commander, run, and
 * errors turned into `Error:` / `Hint:` lines and exit 125. Loaded by ./main.ts, which passes
 * the verbs to register.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { type CliContext, createContext } from './context.ts';
import { EXIT_BRIG_ERROR, reportError } from './report.ts';

export interface CommandModule {
  register(program: Command, ctx: CliContext): void;
}

export { EXIT_BRIG_ERROR };

/** `modules`: the verbs to register (all of them, or only the one asked for: ./main.ts). */
export async function runProgram(argv: string[], modules: readonly CommandModule[]): Promise<number> {
  const program = new Command('brig')
    .description('brig: containers on FreeBSD jails and Linux')
    .version(`brig version ${VERSION}`, '-v, --version')
    .option('-H, --host <unix://path>', 'daemon socket (default: $BRIG_HOST or unix:///var/run/brig.sock)')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s) })
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  const ctx = createContext(program);
  for (const m of modules) m.register(program, ctx);
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return 0;
      if (e.exitCode === 0) return 0;
      return EXIT_BRIG_ERROR;
    }
    return reportError(e);
  }
}

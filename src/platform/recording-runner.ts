/**
 * A CommandRunner that runs nothing: it records every command (for `brig run --dry-run` plans)
 * and answers as a healthy, empty host would, so that code written for a real runner goes down
 * its ordinary path. Answers, in order: the `answer` hook's, then the built-in ones:
 *   `X --version`                      exit 0, `X version (planned)`
 *   `zfs list -H -o name DS`           DS (the dataset exists)
 *   `zfs list ... -d 1 DS`             DS (no children)
 *   `zfs get -H -o value mountpoint DS`  /DS
 *   `sysctl -n kern.racct.enable`      1
 *   anything else                      exit 0, no output
 * With `ask`, read-only queries (isQuery) are answered by that runner instead (the real host's,
 * or a fork of the simulated one), so answers such as a dataset's mountpoint are the host's own.
 * Only the commands issued between `start()` and `stop()` are kept (set-up queries are not part
 * of a plan).
 */
import type { CommandResult, CommandRunner, RunOptions } from './exec.ts';

export interface PlannedCommand {
  cmd: string;
  args: string[];
  stdin?: string;
  /** Run by another program (conmon runs the OCI runtime), shown indented. */
  via?: string;
  cwd?: string;
}

export type Answer = { code?: number; stdout?: string; stderr?: string };

export class RecordingRunner implements CommandRunner {
  readonly commands: PlannedCommand[] = [];
  #recording = true;

  constructor(
    private readonly answer?: (cmd: string, args: readonly string[]) => Answer | undefined,
    private readonly ask?: CommandRunner,
  ) {}

  start(): void {
    this.#recording = true;
  }
  stop(): void {
    this.#recording = false;
  }

  /** Records a command that another program runs (not through this runner). */
  note(cmd: string, args: readonly string[], via?: string): void {
    if (this.#recording) this.commands.push({ cmd, args: [...args], ...(via ? { via } : {}) });
  }

  async run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    if (this.#recording) {
      const c: PlannedCommand = { cmd, args: [...args] };
      if (opts.input !== undefined) c.stdin = opts.input.toString();
      if (opts.cwd) c.cwd = opts.cwd;
      this.commands.push(c);
    }
    const hook = this.answer?.(cmd, args);
    if (!hook && this.ask && isQuery(cmd, args)) {
      const r = await this.ask.run(cmd, args, { check: false }).catch(() => undefined);
      if (r && r.code === 0) return r;
    }
    const a = hook ?? builtinAnswer(cmd, args);
    return {
      code: a.code ?? 0,
      signal: null,
      stdout: Buffer.from(a.stdout ?? ''),
      stderr: Buffer.from(a.stderr ?? ''),
    };
  }
}

function builtinAnswer(cmd: string, args: readonly string[]): Answer {
  const base = cmd.slice(cmd.lastIndexOf('/') + 1);
  if (args.length === 1 && args[0] === '--version') return { stdout: `${base} version (planned)\n` };
  if (base === 'zfs' && args[0] === 'list') {
    const ds = args.at(-1) ?? '';
    return { stdout: `${ds}\n` };
  }
  if (base === 'zfs' && args[0] === 'get' && args.includes('mountpoint'))
    return { stdout: `/${args.at(-1)}\n` };
  if (base === 'sysctl' && args.includes('kern.racct.enable')) return { stdout: '1\n' };
  return {};
}

/** Commands that only read host state (safe to ask the real host while planning). */
export function isQuery(cmd: string, args: readonly string[]): boolean {
  const base = cmd.slice(cmd.lastIndexOf('/') + 1);
  if (args.length === 1 && args[0] === '--version') return true;
  if (base === 'zfs') return args[0] === 'list' || args[0] === 'get';
  if (base === 'sysctl') return args[0] === '-n' && args.every((a) => !a.includes('='));
  if (base === 'jls') return true;
  if (base === 'mount') return args.length === 0 || (args.length === 1 && args[0] === '-p');
  if (base === 'rctl') return args.length === 0 || args[0] === '-u' || !args[0]!.startsWith('-');
  if (base === 'devfs') return args.join(' ') === 'rule showsets';
  return false;
}

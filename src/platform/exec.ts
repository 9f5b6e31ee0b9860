/**
 * The one door to child processes. Every external command brig runs goes through here, always as
 * an argument array (never a shell string), so that it can be logged, planned (`--dry-run`) and,
 * on the simulated FreeBSD host, intercepted.
 *
 * - `CommandRunner.run` runs a command to completion and collects its output. With `check`
 *   (the default) a non-zero exit becomes ERR_COMMAND_FAILED carrying the command's stderr.
 * - `spawnChild` starts a long-lived process (conmon, an interactive exec) for callers that
 *   stream its stdio themselves.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { BrigError } from '../errors/errors.ts';

export interface CommandResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
}

export interface RunOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Throw ERR_COMMAND_FAILED on a non-zero exit (default true). */
  check?: boolean;
}

export interface CommandRunner {
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<CommandResult>;
}

export function formatCommand(cmd: string, args: readonly string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return [cmd, ...args].map(q).join(' ');
}

export function commandFailed(cmd: string, args: readonly string[], r: CommandResult): BrigError {
  const err = r.stderr.toString('utf8').trim() || r.stdout.toString('utf8').trim();
  const how = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.code}`;
  return new BrigError('ERR_COMMAND_FAILED', `${formatCommand(cmd, args)} ${how}${err ? `: ${err}` : ''}`, {
    details: { command: cmd, status: r.code, stderr: err.slice(0, 4096) },
  });
}

/** Runs commands on the real host. */
export const hostRunner: CommandRunner = {
  run(cmd, args, opts = {}) {
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn(cmd, args, {
          cwd: opts.cwd,
          env: opts.env ?? process.env,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      } catch (e) {
        reject(
          new BrigError('ERR_COMMAND_FAILED', `cannot run ${cmd}: ${(e as Error).message}`, { cause: e }),
        );
        return;
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') {
          reject(
            new BrigError('ERR_COMMAND_NOT_FOUND', `${cmd} is not installed or not on PATH`, { cause: e }),
          );
        } else {
          reject(new BrigError('ERR_COMMAND_FAILED', `cannot run ${cmd}: ${e.message}`, { cause: e }));
        }
      });
      child.on('close', (code, signal) => {
        const r: CommandResult = {
          code: code ?? -1,
          signal,
          stdout: Buffer.concat(out),
          stderr: Buffer.concat(err),
        };
        if ((opts.check ?? true) && (code !== 0 || signal)) reject(commandFailed(cmd, args, r));
        else resolve(r);
      });
      child.stdin!.on('error', () => {});
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      else child.stdin!.end();
    });
  },
};

/** Starts a long-lived child; the caller owns its stdio and its exit. */
export function spawnChild(cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn(cmd, args, opts);
}

/** Whether a command is on PATH (no process is started). */
export async function which(cmd: string): Promise<string | undefined> {
  const { access, constants } = await import('node:fs/promises');
  const { join } = await import('node:path');
  if (cmd.includes('/')) {
    try {
      await access(cmd, constants.X_OK);
      return cmd;
    } catch {
      return undefined;
    }
  }
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue;
    try {
      await access(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {}
  }
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/sbin']) {
    try {
      await access(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {}
  }
  return undefined;
}

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
  /** The command ran past `timeoutMs` and was killed (SIGKILL). */
  timedOut?: boolean;
}

export interface RunOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Throw ERR_COMMAND_FAILED on a non-zero exit (default true). */
  check?: boolean;
  /**
   * Kill the command (SIGKILL) when it has not ended after this many milliseconds: for programs
   * that may wait for something that never comes (a credential helper asking for a passphrase).
   * The result then has `timedOut` and signal SIGKILL.
   */
  timeoutMs?: number;
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
          // with a timeout the command leads a process group of its own, so that the kill also
          // reaches what it started (a helper's gpg holding the output pipe open)
          ...(opts.timeoutMs !== undefined ? { detached: true } : {}),
        });
      } catch (e) {
        reject(
          new BrigError('ERR_COMMAND_FAILED', `cannot run ${cmd}: ${(e as Error).message}`, { cause: e }),
        );
        return;
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer =
        opts.timeoutMs !== undefined
          ? setTimeout(() => {
              timedOut = true;
              try {
                process.kill(-child.pid!, 'SIGKILL');
              } catch {
                child.kill('SIGKILL');
              }
            }, opts.timeoutMs)
          : undefined;
      // a descendant that left the group may still hold the pipes: once the command itself is
      // gone after a timeout, stop waiting for them
      child.on('exit', () => {
        if (timedOut) {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }
      });
      child.stdout!.on('data', (b: Buffer) => out.push(b));
      child.stderr!.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e.code === 'ENOENT') {
          reject(
            new BrigError('ERR_COMMAND_NOT_FOUND', `${cmd} is not installed or not on PATH`, { cause: e }),
          );
        } else {
          reject(new BrigError('ERR_COMMAND_FAILED', `cannot run ${cmd}: ${e.message}`, { cause: e }));
        }
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const r: CommandResult = {
          code: code ?? -1,
          signal,
          stdout: Buffer.concat(out),
          stderr: Buffer.concat(err),
          ...(timedOut ? { timedOut } : {}),
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

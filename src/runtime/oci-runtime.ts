/**
 * The OCI runtime command line (runc, crun; ocijail and runj take the same verbs), always with
 * this daemon's own state root (`--root`), so `list` shows exactly this daemon's containers.
 */

import { BrigError } from '../errors/errors.ts';
import type { CommandRunner } from '../platform/exec.ts';
import type { RuntimeInfo } from '../platform/platform.ts';

export interface RuntimeState {
  id: string;
  /** creating | created | running | stopped | paused */
  status: string;
  pid: number;
  bundle: string;
}

/** runc prints `time=... level=error msg="..."`; keep the message. */
export function runtimeMessage(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const msgs = lines.map((l) => {
    const m = /msg="((?:[^"\\]|\\.)*)"/.exec(l);
    return m ? m[1]!.replace(/\\"/g, '"').replace(/\\\\/g, '\\') : l;
  });
  return [...new Set(msgs)].join('; ');
}

/**
 * Why a runtime could not execute a container's command, read from its error message (runc:
 * `exec: "CMD": executable file not found in $PATH`, `exec: "/CMD": stat /CMD: no such file or
 * directory`, `exec: "CMD": permission denied` — a directory too): docker's status, 127 when the
 * command does not exist, 126 when it cannot be run; the command as the runtime named it (when
 * it did) and the cause in plain words. Undefined for any other failure. Shared by exec
 * (execFailure) and the container's own start (src/containers/service.ts).
 */
export function commandFailure(
  msg: string,
): { exitCode: 126 | 127; command: string; reason: string } | undefined {
  // only a message about the command itself: "no such file or directory" may as well be a
  // mount's source (docker checks the same way)
  const command = /exec: "((?:[^"\\]|\\.)*)"/.exec(msg)?.[1] ?? /executable file `([^`]*)`/.exec(msg)?.[1];
  if (command === undefined) return undefined;
  if (/executable file (?:`[^`]*` )?not found in \$PATH/i.test(msg))
    return { exitCode: 127, command, reason: 'executable file not found in $PATH' };
  if (/not found|no such file or directory/i.test(msg))
    return { exitCode: 127, command, reason: 'no such file or directory' };
  const cannot = /permission denied|exec format error|is a directory/i.exec(msg);
  if (cannot) return { exitCode: 126, command, reason: cannot[0].toLowerCase() };
  return undefined;
}

/**
 * A `runtime exec` that failed before the command ran (runc exits 255 and logs why): docker's
 * status and a plain message, or undefined when `stderr` shows no such failure. 127: the command
 * does not exist; 126: it cannot be run (not executable, permission, or the -w directory is
 * missing). The caller replaces runc's log line with `message`.
 */
export function execFailure(
  code: number,
  stderr: string,
): { exitCode: 126 | 127; message: string } | undefined {
  if (code !== 255 || !/level=(error|fatal)/.test(stderr)) return undefined;
  const msg = runtimeMessage(
    stderr
      .split('\n')
      .filter((l) => /level=(error|fatal)/.test(l))
      .join('\n'),
  );
  const cwd = /chdir to cwd \("([^"]*)"\)/.exec(msg);
  if (cwd)
    return { exitCode: 126, message: `the working directory ${cwd[1]} does not exist in the container` };
  const f = commandFailure(msg);
  if (!f) return undefined;
  return f.exitCode === 127
    ? { exitCode: 127, message: `${f.command}: command not found in the container` }
    : { exitCode: 126, message: `${f.command}: cannot be run in the container (${f.reason})` };
}

export class OciRuntime {
  constructor(
    readonly info: RuntimeInfo,
    private readonly runner: CommandRunner,
  ) {}

  private args(...rest: string[]): string[] {
    return ['--root', this.info.stateRoot, ...rest];
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    const r = await this.runner.run(this.info.path, this.args('state', id), { check: false });
    if (r.code !== 0) return undefined;
    const j = JSON.parse(r.stdout.toString()) as { id: string; status: string; pid: number; bundle: string };
    return { id: j.id, status: j.status, pid: j.pid, bundle: j.bundle };
  }

  async list(): Promise<RuntimeState[]> {
    const r = await this.runner.run(this.info.path, this.args('list', '--format', 'json'), { check: false });
    if (r.code !== 0) return [];
    const j = JSON.parse(r.stdout.toString() || 'null') as RuntimeState[] | null;
    return (j ?? []).map((x) => ({ id: x.id, status: x.status, pid: x.pid, bundle: x.bundle }));
  }

  async start(id: string): Promise<void> {
    const r = await this.runner.run(this.info.path, this.args('start', id), { check: false });
    if (r.code !== 0) {
      throw new BrigError(
        'ERR_RUNTIME_START',
        runtimeMessage(r.stderr.toString()) || `${this.info.name} start failed`,
      );
    }
  }

  /** Sends a signal to the init process (all processes with `all`). Gone already is fine. */
  async kill(id: string, signal: string, all = false): Promise<boolean> {
    // ocijail takes signal names without SIG (`TERM`); runc and crun take both
    if (this.info.name === 'ocijail') signal = signal.replace(/^SIG/, '');
    const r = await this.runner.run(
      this.info.path,
      this.args('kill', ...(all ? ['--all'] : []), id, signal),
      {
        check: false,
      },
    );
    return r.code === 0;
  }

  /** Deletes the runtime state (killing what is left with `force`). Missing is fine. */
  async delete(id: string, force = true): Promise<void> {
    const r = await this.runner.run(this.info.path, this.args('delete', ...(force ? ['--force'] : []), id), {
      check: false,
    });
    if (r.code !== 0) {
      const msg = runtimeMessage(r.stderr.toString());
      if (/does not exist|not exist|no such/i.test(msg)) return;
      throw new BrigError('ERR_RUNTIME', `${this.info.name} delete ${id}: ${msg}`);
    }
  }

  /** runc and crun freeze a container's cgroup (`pause`/`resume`); ocijail and runj cannot. */
  get canPause(): boolean {
    return this.info.name === 'runc' || this.info.name === 'crun';
  }

  /** Freezes every process of the container (`paused`), or thaws them. */
  async pause(id: string, paused: boolean): Promise<void> {
    const verb = paused ? 'pause' : 'resume';
    const r = await this.runner.run(this.info.path, this.args(verb, id), { check: false });
    if (r.code !== 0) {
      throw new BrigError(
        'ERR_RUNTIME',
        `${this.info.name} ${verb} ${id}: ${runtimeMessage(r.stderr.toString())}`,
      );
    }
  }

  /** ocijail and runj take exec only as a runtime-spec `process` file (no --cwd, --env, --user). */
  get execNeedsProcessFile(): boolean {
    return this.info.name === 'ocijail' || this.info.name === 'runj';
  }

  /** Arguments for `exec` (the caller spawns it, to stream stdio). */
  execArgs(
    id: string,
    opts: { args: string[]; env: string[]; cwd?: string; user?: string; tty: boolean; processFile?: string },
  ): string[] {
    const a = this.args('exec');
    if (opts.processFile) a.push('--process', opts.processFile);
    else {
      if (opts.tty) a.push('--tty');
      if (opts.cwd) a.push('--cwd', opts.cwd);
      if (opts.user) a.push('--user', opts.user);
      for (const e of opts.env) a.push('--env', e);
    }
    a.push(id);
    if (!opts.processFile) a.push(...opts.args);
    return a;
  }
}

/** The runtime-spec `process` object of an exec, for runtimes that take it as a file. */
export function execProcess(opts: {
  args: string[];
  env: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  tty: boolean;
}): Record<string, unknown> {
  return {
    terminal: opts.tty,
    user: { uid: opts.uid ?? 0, gid: opts.gid ?? 0 },
    args: opts.args,
    env: opts.env,
    cwd: opts.cwd ?? '/',
  };
}
